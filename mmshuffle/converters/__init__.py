from .torchvision import (check_against_model, convert_torchvision,
                          detect_arch, unwrap)

__all__ = [
    'check_against_model', 'convert_torchvision', 'detect_arch', 'unwrap'
]
