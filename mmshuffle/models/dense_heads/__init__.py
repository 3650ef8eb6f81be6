from .lite_retina_head import LiteRetinaHead
from .lite_rtmdet_head import LiteRTMDetHead
from .ssdlite_head import SSDLiteHead

__all__ = ['LiteRTMDetHead', 'LiteRetinaHead', 'SSDLiteHead']
