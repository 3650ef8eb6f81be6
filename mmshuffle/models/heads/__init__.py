from .bias_free_cls_head import BiasFreeClsHead
from .deeply_supervised_cls_head import DeeplySupervisedClsHead

__all__ = ['BiasFreeClsHead', 'DeeplySupervisedClsHead']
