from .lite_retina_head import LiteRetinaHead

__all__ = ['LiteRetinaHead']
