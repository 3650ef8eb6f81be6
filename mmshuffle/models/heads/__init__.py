from .bias_free_cls_head import BiasFreeClsHead

__all__ = ['BiasFreeClsHead']
