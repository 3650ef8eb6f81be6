import os

# OpenCV (under mmcv and mmengine) sets LD_LIBRARY_PATH and QT_QPA_* when it
# is first imported: import it before the first test, so that what it sets
# is the session's environment rather than a change made by whichever test
# happens to import it first
import cv2  # noqa: F401
import pytest
import torch

#: variables that are not a test's leak: pytest's own record of the running
#: test, and those torch sets for itself, once per process, when they are
#: unset (its compiler's cache folders, and the address inductor records on
#: its first compilation in the process)
_NOT_LEAKS = ('PYTEST_CURRENT_TEST', 'TORCHINDUCTOR_CACHE_DIR',
              'TRITON_CACHE_DIR', '_TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def environ_changes(before, after):
    """``name -> (before, after)`` for every variable a test set, changed
    or removed (``None`` for absent), ignoring ``_NOT_LEAKS``."""
    return {
        name: (before.get(name), after.get(name))
        for name in set(before) | set(after)
        if before.get(name) != after.get(name) and name not in _NOT_LEAKS
    }


@pytest.fixture(autouse=True)
def _no_environment_leak():
    """Fail a test that leaves ``os.environ`` changed (later tests and the
    subprocesses they start would inherit it); the environment is put back
    first. Use ``monkeypatch.setenv``/``delenv`` (which undo themselves)."""
    before = dict(os.environ)
    yield
    changes = environ_changes(before, dict(os.environ))
    if changes:
        for name, (old, _) in changes.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        pytest.fail('the test leaked environment changes (name: before -> '
                    f'after): {changes}; use monkeypatch.setenv/delenv',
                    pytrace=False)
