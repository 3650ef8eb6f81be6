from .light_head import (LargeSeparableConv, LightHeadRoIHead,
                         PSRoIAlignExtractor, SingleLevelRPNHead)

__all__ = [
    'LargeSeparableConv', 'LightHeadRoIHead', 'PSRoIAlignExtractor',
    'SingleLevelRPNHead'
]
