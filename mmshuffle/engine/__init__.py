from .checkpoint import (AtomicCheckpointHook, CheckpointReadError,
                         SafeCheckpointHook, UnsafeCheckpointError,
                         load_checkpoint_file)
from .fileio import AtomicLocalBackend, atomic_write


def restore_mmengine_defaults() -> None:
    """Give mmengine back its own local checkpoint loader and local file
    backend, which ``import mmshuffle`` replaced for the whole process.

    Afterwards local checkpoints load through mmengine's loader (torch's
    default unpickling, no mmshuffle error messages) and local files are
    written with a plain ``open()`` (not atomically). mmshuffle's models,
    registries and the ``mmshuffle::`` config lookup are unaffected.
    """
    from mmengine.fileio import io as mmengine_io
    from mmengine.fileio.backends import LocalBackend, register_backend
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
    register_backend('local', LocalBackend, force=True, prefixes='')
    for key, backend in list(mmengine_io.backend_instances.items()):
        if isinstance(backend, AtomicLocalBackend):  # cached singletons
            del mmengine_io.backend_instances[key]
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)


__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'CheckpointReadError',
    'SafeCheckpointHook', 'UnsafeCheckpointError', 'atomic_write',
    'load_checkpoint_file', 'restore_mmengine_defaults'
]
