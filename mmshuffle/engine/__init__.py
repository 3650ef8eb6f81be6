from .checkpoint import (AtomicCheckpointHook, CheckpointReadError,
                         SafeCheckpointHook, UnsafeCheckpointError,
                         load_checkpoint_file)
from .fileio import AtomicLocalBackend, atomic_write

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'CheckpointReadError',
    'SafeCheckpointHook', 'UnsafeCheckpointError', 'atomic_write',
    'load_checkpoint_file'
]
