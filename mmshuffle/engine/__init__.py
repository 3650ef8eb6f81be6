from .checkpoint import (SafeCheckpointHook, UnsafeCheckpointError,
                         load_checkpoint_file)

__all__ = ['SafeCheckpointHook', 'UnsafeCheckpointError',
           'load_checkpoint_file']
