from .lite_fpn import LiteFPN
from .lite_pafpn import LitePAFPN
from .se_pooling import GlobalAveragePoolingSE

__all__ = ['GlobalAveragePoolingSE', 'LiteFPN', 'LitePAFPN']
