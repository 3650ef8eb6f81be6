from .lite_fpn import LiteFPN

__all__ = ['LiteFPN']
