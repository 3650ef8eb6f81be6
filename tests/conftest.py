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
# set by imports, once per process: ExecuTorch's runtime module sets
# OPENVINO_LIB_PATH; scikit-learn (which ExecuTorch's dependencies bring,
# and mmdet imports where it is installed) sets the two KMP_ variables
_NOT_LEAKS = ('PYTEST_CURRENT_TEST', 'TORCHINDUCTOR_CACHE_DIR',
              'TRITON_CACHE_DIR', '_TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR',
              'OPENVINO_LIB_PATH', 'KMP_DUPLICATE_LIB_OK', 'KMP_INIT_AT_FORK')


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


@pytest.fixture
def one_unit_stages(monkeypatch):
    """ShuffleNetV2 with one unit per stage (instead of 4, 8, 4): every
    kind of unit and map size at a fraction of the cost of exporting and
    lowering it (the export path is the same for any depth). Build the
    shared ``lite_export`` before it, never under it."""
    from mmshuffle.models.backbones.shufflenet_v2 import ShuffleNetV2
    monkeypatch.setattr(ShuffleNetV2, 'stage_blocks', (1, 1, 1))


@pytest.fixture(scope='session')
def shared_dir(tmp_path_factory):
    """A folder for files that several tests share, made once per run:
    a test run in its own process (``helpers.in_own_process``) gets its
    parent's folder, so that it reuses what the parent made."""
    import helpers
    path = os.environ.get(helpers.SHARED_DIR_ENV)
    if path is None:
        path = str(tmp_path_factory.mktemp('shared'))
    helpers.SHARED_DIR = path
    return path


@pytest.fixture(scope='session')
def lite_export(shared_dir):
    """The toy RetinaNet-lite with random, confident weights
    (``helpers.build_detector``) and its end-to-end ONNX export (the data
    preprocessor folded in: raw 0-255 pixels; dynamic batch, H and W),
    made once for every deployment test that needs a detector and its
    file: ``(model, checkpoint path, ONNX path)``, the model as trained
    (eval mode, BatchNorm not folded), the checkpoint its state dict with
    the toy classes. Tests must not change them."""
    import copy
    import os.path as osp

    from helpers import LITE, build_detector

    from mmshuffle.deploy.detection import DetectorForExport, export_detector
    ckpt = osp.join(shared_dir, 'lite.pth')
    onnx_path = osp.join(shared_dir, 'lite.onnx')
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_detector(LITE)
    if not osp.isfile(onnx_path):
        torch.save({'state_dict': model.state_dict(),
                    'meta': {'dataset_meta': {'classes': [
                        'circle', 'square', 'triangle', 'star']}}}, ckpt)
        export_detector(DetectorForExport(copy.deepcopy(model),
                                          raw_input=True),
                        onnx_path, (160, 160), dynamic_batch=True)
    return model, ckpt, onnx_path
