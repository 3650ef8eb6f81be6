"""Helpers shared by the test modules (one copy, imported everywhere)."""
import math
import os
import os.path as osp
import re

import numpy as np
import torch

from mmshuffle.models.utils import is_batch_norm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: the environment variable that hands the shared folder (the
#: ``shared_dir`` fixture) to a test run in its own process
SHARED_DIR_ENV = 'MMSHUFFLE_TEST_SHARED_DIR'
#: the shared folder of this run, once the fixture made it
SHARED_DIR = None
TOY_DET = osp.join(ROOT, 'configs', 'toy')
#: the toy RetinaNet-lite: the detector the deployment tests share
LITE = osp.join(TOY_DET, 'retinanet-lite_shufflenet-v2-1x_lite-fpn_toy-det.py')
#: the toy detection classes
CLASSES = ['circle', 'square', 'triangle', 'star']
#: the toy RetinaNet-lite on three levels with one conv per branch (its
#: head still runs shared convolutions on every level), for the phone
#: runtimes' tests: as config changes and as --cfg-options
SMALL_LITE = {'model.neck.num_outs': 3,
              'model.bbox_head.anchor_generator.strides': [8, 16, 32],
              'model.bbox_head.stacked_convs': 1}
SMALL_LITE_OPTIONS = ['--cfg-options', 'model.neck.num_outs=3',
                      'model.bbox_head.anchor_generator.strides=[8,16,32]',
                      'model.bbox_head.stacked_convs=1']

#: every variant of every registered backbone: (type, kwargs)
SHUFFLENET_V1_VARIANTS = [
    dict(groups=g, widen_factor=w) for g in (1, 2, 3, 4, 8)
    for w in (0.25, 0.5, 1.0, 1.5, 2.0)
]
SHUFFLENET_V2_VARIANTS = [dict(widen_factor=w) for w in (0.5, 1.0, 1.5, 2.0)]
#: the paper's detection variant ShuffleNet v2*
SHUFFLENET_V2_STAR_VARIANTS = [
    dict(widen_factor=w, extra_dw=True) for w in (0.5, 1.0)
]
#: the paper authors' own networks (MEGVII's ShuffleNet-Series), a few
MEGVII_V1_VARIANTS = [
    dict(groups=3, widen_factor=1.5, megvii=True),
    dict(groups=8, widen_factor=0.5, megvii=True),
]
MEGVII_V2_VARIANTS = [dict(widen_factor=w, megvii=True) for w in (0.5, 1.0)]
SHUFFLENET_V2_PLUS_VARIANTS = [
    dict(arch=a) for a in ('small', 'medium', 'large')
]
#: the authors' searched and large networks (reduced depths where full
#: ones would only cost time)
DETNAS_VARIANTS = [
    dict(arch='coco-fpn-300m'),
    dict(arch='coco-fpn-3.8g', stage_blocks=(1, 1, 2, 1)),
]
ONESHOT_VARIANTS = [dict()]
LARGE_VARIANTS = [dict()]  # at TEST_DEPTH (build_backbone)
MOBILENET_V2_VARIANTS = [
    dict(widen_factor=w) for w in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
]
ALL_VARIANTS = ([('ShuffleNetV1', kw) for kw in SHUFFLENET_V1_VARIANTS] +
                [('ShuffleNetV2', kw) for kw in SHUFFLENET_V2_VARIANTS] +
                [('ShuffleNetV2', kw) for kw in SHUFFLENET_V2_STAR_VARIANTS] +
                [('ShuffleNetV1', kw) for kw in MEGVII_V1_VARIANTS] +
                [('ShuffleNetV2', kw) for kw in MEGVII_V2_VARIANTS] +
                [('ShuffleNetV2Plus', kw)
                 for kw in SHUFFLENET_V2_PLUS_VARIANTS] +
                [('ShuffleNetV2DetNAS', kw) for kw in DETNAS_VARIANTS] +
                [('ShuffleNetV2OneShot', kw) for kw in ONESHOT_VARIANTS] +
                [('ShuffleNetV2Large', kw) for kw in LARGE_VARIANTS] +
                [('ShuffleNetV2ExLarge', kw) for kw in LARGE_VARIANTS] +
                [('MobileNetV2', kw) for kw in MOBILENET_V2_VARIANTS])

#: the number of selectable outputs of each backbone
NUM_OUTPUTS = dict(
    ShuffleNetV1=3, ShuffleNetV2=4, ShuffleNetV2Plus=5, ShuffleNetV2DetNAS=5,
    ShuffleNetV2OneShot=5, ShuffleNetV2Large=5, ShuffleNetV2ExLarge=4,
    MobileNetV2=8)


def variant_id(item):
    name, kwargs = item
    return name + '-' + '-'.join(f'{k}{v}' for k, v in kwargs.items())


#: the depth the tests build the 140M- and 270M-parameter networks at
#: unless they ask for another (their parity tests build them whole)
TEST_DEPTH = {
    'ShuffleNetV2Large': dict(stage_blocks=(1, 2, 1, 1)),
    'ShuffleNetV2ExLarge': dict(stage_blocks=(1, 2, 1, 1)),
}


def build_backbone(name, **kwargs):
    """Build one of our backbones through the registry, initialised (the
    large ones at :data:`TEST_DEPTH` unless ``stage_blocks`` is given)."""
    from mmshuffle.registry import MODELS
    kwargs = {**TEST_DEPTH.get(name, {}), **kwargs}
    model = MODELS.build(dict(type=f'mmshuffle.{name}', **kwargs))
    model.init_weights()
    return model


def all_out_indices(name):
    return tuple(range(NUM_OUTPUTS[name]))


def expected_size(size, stride):
    """Spatial size after ``log2(stride)`` 3x3/2 pad-1 ops: ceil at each."""
    return math.ceil(size / stride)


def batch_norms(module):
    return [m for m in module.modules() if is_batch_norm(m)]


def assert_norms_training(module, training):
    """Every BatchNorm in ``module`` is in train mode iff ``training``."""
    modes = {m.training for m in batch_norms(module)}
    assert modes == {training}, f'BN modes {modes}, expected {training}'


def count_params(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trainable_only)


def assert_close(a, b, atol=1e-5):
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


def make_tiny_toy_data(root, cls=None, det=None):
    """Write small toy data sets at the configs' default paths under
    ``root`` (``data/toy_shapes``, ``data/toy_det``), for CLI tests that
    run from ``root``. ``cls``/``det``: ``(num_train, num_val, size)``."""
    import os.path as osp

    from mmshuffle.datasets.toy import (make_toy_classification,
                                        make_toy_detection)
    if cls:
        make_toy_classification(
            osp.join(str(root), 'data', 'toy_shapes'), *cls, progress=False)
    if det:
        make_toy_detection(
            osp.join(str(root), 'data', 'toy_det'), *det, progress=False)


def toy_val_batch(root):
    """The toy detection val images that ``make_tiny_toy_data`` wrote under
    ``root``, normalised as the toy detectors' data preprocessor does (RGB,
    ImageNet mean/std): one (N, 3, H, W) float32 batch."""
    from mmcv import imread
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    folder = osp.join(str(root), 'data', 'toy_det', 'val')
    return np.stack([
        ((imread(osp.join(folder, name))[..., ::-1] - mean) / std
         ).transpose(2, 0, 1) for name in sorted(os.listdir(folder))
    ]).astype(np.float32)


@torch.no_grad()
def randomize_bn_stats(module, seed=0):
    """Give every BatchNorm non-trivial statistics and affine parameters,
    so that folding them is really exercised (fresh BNs are identity)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(n, low, high):
        return torch.rand(n, generator=gen) * (high - low) + low

    for bn in batch_norms(module):
        n = bn.num_features
        bn.running_mean.copy_(rand(n, -0.5, 0.5))
        bn.running_var.copy_(rand(n, 0.5, 2.0))
        bn.weight.copy_(rand(n, 0.5, 1.5))
        bn.bias.copy_(rand(n, -0.3, 0.3))
    return module


def in_own_process(test):
    """Run ``test`` (not parametrized) in a fresh Python: pytest on this
    one test in a child process, which fails the test here if it fails
    there. For tests that load OpenVINO's CPU plugin in process: beside
    torch and onnxruntime in the long-lived test process it corrupted the
    heap, and a later, unrelated test crashed in malloc."""
    import functools
    import inspect
    import os
    import subprocess
    import sys

    @functools.wraps(test)
    def run(*args, **kwargs):
        if os.environ.get('MMSHUFFLE_TEST_CHILD') == '1':
            return test(*args, **kwargs)
        path = inspect.getfile(test)
        root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        env = dict(os.environ, MMSHUFFLE_TEST_CHILD='1')
        if SHARED_DIR is not None:
            env[SHARED_DIR_ENV] = SHARED_DIR
        proc = subprocess.run(
            [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
             f'{path}::{test.__name__}'],
            cwd=root, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, (
            f'{test.__name__} failed in its own process:\n'
            f'{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}')

    return run


#: the heads' last layers: class scores, box deltas (SSD's: the plain
#: convolution closing each level's cls_convs/reg_convs; RTMDet's: one per
#: level in rtm_cls/rtm_reg)
CLASSIFIERS = ('retina_cls', 'rpn_cls', 'fc_cls', 'conv_cls')
REGRESSORS = ('retina_reg', 'rpn_reg', 'fc_reg', 'conv_reg')
LAST_LAYER = re.compile(
    r'(^|\.)(?:(cls|reg)_convs\.\d+\.1|rtm_(cls|reg)\.\d+)$')


def last_layer_kind(name):
    """'cls' or 'reg' for a head's last layer, else None."""
    last = name.rsplit('.', 1)[-1]
    if last in CLASSIFIERS:
        return 'cls'
    if last in REGRESSORS:
        return 'reg'
    match = LAST_LAYER.search(name)
    if match:
        return match.group(2) or match.group(3)
    return None


def build_detector(path, cfg=None, seed=0):
    """The detector of a config with random, confident weights: BN
    statistics randomised and the classifiers' weights spread, so that
    scores differ clearly between boxes (no ties for NMS to break)."""
    import logging

    from mmengine.config import Config

    from mmshuffle.deploy.detection import predict_reference
    from mmshuffle.engine.configs import build_model
    cfg = cfg or Config.fromfile(path)
    model = build_model(cfg, pretrained=False)
    logging.disable(logging.INFO)
    try:
        model.init_weights()
    finally:
        logging.disable(logging.NOTSET)
    randomize_bn_stats(model, seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # fresh mmdet heads start near zero (std 0.01): spread every
        # weight as a trained network's (variance preserving)
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=gen) *
                    (2 / fan_in)**0.5)
    # then scale the last layers so that class logits spread with std 2
    # (biases -2) and box deltas with std 0.5: scores differ clearly
    last = {
        name: module
        for name, module in model.named_modules()
        if last_layer_kind(name) and isinstance(module, torch.nn.Conv2d)
        or name.rsplit('.', 1)[-1] in CLASSIFIERS + REGRESSORS
    }
    spread = {}
    hooks = [
        module.register_forward_hook(
            lambda m, i, o, name=name: spread.setdefault(name, []).append(
                o.std().item())) for name, module in last.items()
    ]
    with torch.no_grad():
        predict_reference(model.eval(),
                          torch.randn(1, 3, 160, 160, generator=gen))
        for hook in hooks:
            hook.remove()
        for name, module in last.items():
            target = 2.0 if last_layer_kind(name) == 'cls' else 0.5
            module.weight.mul_(target / max(np.mean(spread[name]), 1e-6))
            module.bias.fill_(-2.0 if target == 2.0 else 0.0)
    return model.eval()


def load_tool(path):
    """A tool of tools/ as a module (its ``main(argv)`` callable)."""
    import importlib.util
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool_in_process(path, args, capsys):
    """Run ``tools/<path>`` with ``args`` in this process as its
    ``__main__`` does (``run_cli(main)``): ``(exit status, stdout,
    stderr)``. For the tools' argument and input checks, which stop
    before any heavy work: the process start and imports a subprocess
    would repeat are paid once. Each tool's real entry point is still
    run as a process by one test of its own."""
    from mmshuffle.engine.cli import run_cli
    tool = load_tool(path)
    capsys.readouterr()
    code = 0
    try:
        run_cli(lambda: tool.main([str(a) for a in args]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def real_files(folder, source):
    """The files people have, made from the toy image ``source``: an
    EXIF-rotated photo (stored sideways with orientation 8, in a PNG so
    that its pixels are exactly the upright one's), the same picture
    upright, a CMYK JPEG, a 16-bit PNG, a palette PNG with transparency,
    and three that are not images: a text file named .jpg, an empty file
    and a truncated PNG."""
    folder.mkdir()
    import numpy as np
    from PIL import Image
    rgb = np.asarray(Image.open(source).convert('RGB'))
    Image.fromarray(rgb).save(folder / 'a_upright.png')
    exif = Image.Exif()
    exif[0x0112] = 8  # shown turned 90 degrees counter-clockwise
    Image.fromarray(np.rot90(rgb, k=-1).copy()).save(
        folder / 'b_phone.png', exif=exif)
    Image.fromarray(rgb).convert('CMYK').save(folder / 'c_cmyk.jpg',
                                              quality=98)
    gray16 = (rgb.mean(axis=2) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(folder / 'd_deep.png')
    Image.fromarray(rgb).convert('P').save(folder / 'e_palette.png',
                                           transparency=0)
    (folder / 'f_notes.jpg').write_text('not a photo\n')
    (folder / 'g_empty.png').write_bytes(b'')
    whole = (folder / 'd_deep.png').read_bytes()
    (folder / 'h_cut.png').write_bytes(whole[:len(whole) // 2])
    return rgb


def assert_toy_export_matches(reference, onnx_path, root, normalise):
    """The exported detector at ``onnx_path`` gives ``reference``'s (an
    mmdet detector's) predictions box for box in onnxruntime on two toy
    validation images written under ``root``, cropped to 160x160 and
    128x224 (H and W dynamic); ``normalise(bgr uint8) -> float32 HWC`` is
    what the detector's data preprocessor does. At least 20 boxes are
    compared, so the check cannot pass on empty outputs."""
    import glob

    from mmcv import imread, imresize

    from mmshuffle.deploy.detection import (compare_detections,
                                            predict_reference,
                                            split_detections)
    from mmshuffle.deploy.runtime import DetectionSession, load_runtime
    make_tiny_toy_data(root, det=(1, 2, 160))
    paths = sorted(glob.glob(osp.join(str(root), 'data', 'toy_det', 'val',
                                      '*')))
    session = DetectionSession(load_runtime(onnx_path, 'onnxruntime', 1))
    total = 0
    for path, crop in zip(paths, [(160, 160), (128, 224)]):
        image = normalise(imresize(imread(path), crop[::-1]))
        batch = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            expected = predict_reference(reference, batch)
        dets, labels = session(batch.numpy())
        result = compare_detections(expected, split_detections(dets, labels))
        assert result['ok'] and result['matched'] >= 0.9 * max(
            result['reference'], result['outputs']), result
        total += result['reference']
    assert total > 20, total  # the comparison is not vacuous


def small_lite_checkpoint(root):
    """The :data:`SMALL_LITE` toy RetinaNet-lite with random, confident
    weights (:func:`build_detector`, seed 0) saved with the toy classes as
    ``root/det.pth``: its path."""
    from mmengine.config import Config
    cfg = Config.fromfile(LITE)
    cfg.merge_from_dict(SMALL_LITE)
    torch.manual_seed(0)
    model = build_detector(LITE, cfg)
    path = osp.join(str(root), 'det.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, path)
    return path
