from .lite_fpn import LiteFPN
from .lite_pafpn import LitePAFPN

__all__ = ['LiteFPN', 'LitePAFPN']
