"""The paper authors' (MEGVII's ShuffleNet-Series) 24 ImageNet classifiers
load exactly: weights laid out as theirs, converted, give the logits their
own code computes (tests/reference/megvii); ShuffleNetV2+ as a backbone,
classifier, training config and detector; ShuffleNetV2.Large's training
head; the converter's refusals."""
import copy
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from helpers import build_backbone, randomize_bn_stats
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.converters.megvii import ARCHS, convert, detect_arch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
REFERENCE = osp.join(ROOT, 'tests', 'reference', 'megvii')
TOOL = osp.join(ROOT, 'tools', 'model_converters', 'megvii2mmshuffle.py')
#: published FLOPs (millions), from the authors' README
PUBLISHED_MFLOPS = {
    'shufflenet-v1-0.5x-g3': 38, 'shufflenet-v1-1x-g3': 138,
    'shufflenet-v1-1.5x-g3': 292, 'shufflenet-v1-2x-g3': 524,
    'shufflenet-v1-0.5x-g8': 40, 'shufflenet-v1-1x-g8': 138,
    'shufflenet-v1-1.5x-g8': 290, 'shufflenet-v1-2x-g8': 522,
    'shufflenet-v2-0.5x': 41, 'shufflenet-v2-1x': 146,
    'shufflenet-v2-1.5x': 299, 'shufflenet-v2-2x': 591,
    'shufflenet-v2-plus-small': 156, 'shufflenet-v2-plus-medium': 222,
    'shufflenet-v2-plus-large': 360,
    'oneshot': 328, 'shufflenet-v2-large': 12700,
    'shufflenet-v2-exlarge': 46200,
}
#: DetNAS publishes its search's FLOPs budget (300M, 1.3G, 3.8G), not a
#: count: the counted FLOPs lie within +25% of it
DETNAS_BUDGET_MFLOPS = {'300m': 300, '1.3g': 1300, '3.8g': 3800}
#: networks whose logits, for the reference weights, depend on the order of
#: float32 sums (see docs/weights.md): compared as computed, on one thread
ONE_THREAD = ('shufflenet-v2-large', 'shufflenet-v2-exlarge')


def reference_name(arch):
    """tests/reference/megvii file name of ``arch`` (1.0x, 2.0x there)."""
    return arch.replace('-1x', '-1.0x').replace('-2x', '-2.0x')


def load_reference(arch):
    with open(osp.join(REFERENCE, reference_name(arch) + '.json')) as f:
        return json.load(f)


def megvii_state_dict(reference):
    """MEGVII's state dict for the layout of ``reference``, filled by the
    weights rule of tests/reference/megvii/README.md."""
    out = OrderedDict()
    for i, entry in enumerate(reference['state_dict']):
        key, shape = entry['key'], tuple(entry['shape'])
        if key.endswith('num_batches_tracked'):
            out[key] = torch.tensor(0, dtype=torch.long)
            continue
        g = torch.Generator().manual_seed(1000 + i)
        if key.endswith('running_var'):
            value = torch.rand(shape, generator=g) * 0.2 + 0.9
        elif key.endswith('running_mean'):
            value = torch.randn(shape, generator=g) * 0.01
        elif key.endswith('weight') and len(shape) == 1:
            value = 1 + 0.1 * torch.randn(shape, generator=g)
        elif key.endswith('bias') and len(shape) == 1:
            value = 0.01 * torch.randn(shape, generator=g)
        else:
            value = torch.randn(shape, generator=g) * math.sqrt(
                2 / math.prod(shape[1:]))
        out[key] = value
    return out


def reference_input():
    return torch.randn(
        2, 3, 224, 224, generator=torch.Generator().manual_seed(0))


def assert_agrees(logits, reference):
    """The agreement of tests/reference/megvii/README.md."""
    expected = torch.tensor(reference['logits'])
    assert logits.shape == expected.shape
    err = (logits - expected).abs().max().item()
    scale = expected.abs().max().item()
    assert err <= 1e-4 * scale, f'max |diff| {err} > 1e-4 * {scale}'
    # the two images give different logits: the input matters
    assert (expected[0] - expected[1]).abs().max() > 1e-2 * scale


def config_path(arch):
    family = ('shufflenet_v2_plus' if 'plus' in arch else
              'shufflenet_v1' if arch.startswith('shufflenet-v1') else
              'detnas' if arch.startswith('detnas') else
              'oneshot' if arch == 'oneshot' else
              'shufflenet_v2_large' if arch.endswith('large') else
              'shufflenet_v2')
    return osp.join(ROOT, 'configs', family, f'{arch}_megvii-in1k.py')


def metafile_entry(arch):
    import yaml
    path = osp.join(osp.dirname(config_path(arch)), 'metafile.yml')
    with open(path) as f:
        models = yaml.safe_load(f)['Models']
    entry, = [m for m in models if m['Name'] == f'{arch}_megvii-in1k']
    return entry


def build_from_config(path, scope=None):
    cfg = Config.fromfile(path)
    scope = scope or cfg.default_scope
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return cfg, MODELS.build(cfg.model)


def test_every_reference_file_has_a_config():
    names = sorted(osp.basename(p)[:-5]
                   for p in glob.glob(osp.join(REFERENCE, '*.json'))
                   if not p.endswith('index.json'))
    assert names == sorted(reference_name(a) for a in ARCHS)
    assert len(ARCHS) == 24
    with open(osp.join(REFERENCE, 'index.json')) as f:
        assert sorted(json.load(f)) == names
    configs = sorted(glob.glob(osp.join(ROOT, 'configs', '*',
                                        '*_megvii-in1k.py')))
    assert configs == sorted(config_path(a) for a in ARCHS)


@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_converted_weights_give_megvii_logits(arch):
    reference = load_reference(arch)
    source = megvii_state_dict(reference)
    assert list(source) == [e['key'] for e in reference['state_dict']]
    # as published: {'state_dict': ...} of a DataParallel model
    published = {'state_dict': OrderedDict(
        ('module.' + k, v) for k, v in source.items())}
    assert detect_arch(published) == arch
    converted = convert(published)
    # a rename: the same tensors (ShuffleNetV2.Large's SE layers, which the
    # authors' model registers twice, once)
    kept = [v for k, v in source.items() if '.se_fc' not in k]
    assert len(converted) == len(kept)
    assert all(a is b for a, b in zip(converted.values(), kept))
    cfg, model = build_from_config(config_path(arch))
    model.load_state_dict(converted, strict=True)
    model.eval()
    assert sum(p.numel() for p in model.parameters()) == reference['params']
    threads = torch.get_num_threads()
    try:
        if arch in ONE_THREAD:
            torch.set_num_threads(1)
        with torch.no_grad():
            assert_agrees(model(reference_input(), mode='tensor'),
                          reference)
    finally:
        torch.set_num_threads(threads)
    # FLOPs as get_flops.py counts them (the metafile's figure, which
    # test_metafiles.py ties to the model), within 3% of the published one
    flops = metafile_entry(arch)['Metadata']['FLOPs'] / 1e6
    if arch.startswith('detnas'):
        budget = DETNAS_BUDGET_MFLOPS[arch.rsplit('-', 1)[1]]
        assert budget <= flops <= 1.25 * budget, flops
    else:
        assert abs(flops / PUBLISHED_MFLOPS[arch] - 1) <= 0.03, flops
    # the authors' evaluation: BGR, 0-255, no mean/std
    pre = cfg.data_preprocessor
    assert (pre.mean, pre.std, pre.to_rgb) == (None, None, False)
    # complete for tools/test.py (the runner needs both with a dataloader)
    assert cfg.test_cfg == {} and cfg.val_cfg == {}
    if 'plus' in arch or arch in ('oneshot', 'detnas-coco-fpn-300m'):
        # deploy form: BN folded (SE included), hard-swish/-sigmoid exact
        from mmshuffle.deploy import switch_to_deploy
        deployed = switch_to_deploy(copy.deepcopy(model))
        assert not any(isinstance(m, torch.nn.BatchNorm2d)
                       for m in deployed.modules())
        with torch.no_grad():
            assert_agrees(deployed(reference_input(), mode='tensor'),
                          reference)


def test_megvii_test_pipeline_is_the_authors(tmp_path):
    """Pillow decoding, short side 256 by OpenCV bilinear with the
    authors' rounding (int(256 * long / short + 0.5)), centre crop 224."""
    import cv2
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (375, 499, 3), dtype=np.uint8)
    path = str(tmp_path / 'img.png')
    Image.fromarray(rgb).save(path)
    cfg = Config.fromfile(config_path('shufflenet-v2-plus-small'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        steps = cfg.test_dataloader.dataset.pipeline
        pipeline = Compose([TRANSFORMS.build(t) for t in steps])
        packed = pipeline(dict(img_path=path))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    width = int(256 / 375 * 499 + 0.5)
    assert width == 341  # mmpretrain's ResizeEdge would give 340
    resized = cv2.resize(bgr, (width, 256), interpolation=cv2.INTER_LINEAR)
    left = int(round((width - 224) / 2.0))
    top = int(round((256 - 224) / 2.0))
    expected = resized[top:top + 224, left:left + 224].transpose(2, 0, 1)
    assert torch.equal(packed['inputs'], torch.from_numpy(expected.copy()))


# ------------------------------------------------------------- the CLI


def run_tool(*args):
    """The tool in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS='ignore'))


@pytest.fixture(scope='module')
def tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('megvii2mmshuffle', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_main(tool, capsys):
    """The tool's ``main`` under ``run_cli``, in this process (the same
    code path as the command line, without a new interpreter's imports)."""
    from mmshuffle.engine.cli import run_cli

    def run(*args):
        code = 0
        try:
            run_cli(lambda: tool.main([str(a) for a in args]))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def assert_refused(proc, *parts):
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines()
              if ln.startswith('error: ')]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    for part in parts:
        assert part in errors[0], errors[0]


@pytest.fixture(scope='module')
def v2_file(tmp_path_factory):
    """A MEGVII ShuffleNetV2 0.5x file as published."""
    reference = load_reference('shufflenet-v2-0.5x')
    path = tmp_path_factory.mktemp('megvii') / 'ShuffleNetV2.0.5x.pth.tar'
    sd = megvii_state_dict(reference)
    torch.save({'state_dict': OrderedDict(
        ('module.' + k, v) for k, v in sd.items())}, path)
    return path, sd


def test_cli_converts_a_published_file(v2_file, tmp_path):
    src, sd = v2_file
    dst = tmp_path / 'out' / 'shufflenet-v2-0.5x_megvii-in1k.pth'
    proc = run_tool(src, dst)
    assert proc.returncode == 0, proc.stderr
    assert 'shufflenet-v2-0.5x' in proc.stdout
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['arch'] == 'shufflenet-v2-0.5x'
    expected = convert(sd)
    assert list(ckpt['state_dict']) == list(expected)
    assert all(torch.equal(ckpt['state_dict'][k], v)
               for k, v in expected.items())
    assert sorted(p.name for p in dst.parent.iterdir()) == [dst.name]


def test_cli_refuses_the_wrong_network(v2_file, tmp_path, run_main):
    src, _ = v2_file
    dst = tmp_path / 'x.pth'
    proc = run_main(src, dst, '--arch', 'shufflenet-v2-1x')
    assert_refused(proc, str(src), "'features.0.branch_main.0.weight' has "
                   'shape (24, 24, 1, 1) but shufflenet-v2-1x expects (58, '
                   '24, 1, 1)')
    proc = run_main(src, dst, '--arch', 'shufflenet-v1-1x-g3')
    assert_refused(proc, "'features.0.branch_main.0.weight'",
                   'does not fit')
    assert not dst.exists()


def test_cli_refuses_a_key_with_a_wrong_shape(v2_file, tmp_path, run_main):
    _, sd = v2_file
    key = 'features.5.branch_main.3.weight'
    channels = sd[key].shape[0]
    bad = OrderedDict(sd)
    bad[key] = torch.zeros(channels, 1, 5, 5)
    src = tmp_path / 'bad.pth'
    torch.save(bad, src)
    proc = run_main(src, tmp_path / 'x.pth')
    assert_refused(proc, f"'{key}' has shape ({channels}, 1, 5, 5)",
                   f'expects ({channels}, 1, 3, 3)')
    assert not (tmp_path / 'x.pth').exists()


def test_cli_refuses_a_truncated_file(v2_file, tmp_path, run_main):
    src, _ = v2_file
    data = open(src, 'rb').read()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    proc = run_main(cut, tmp_path / 'x.pth')
    assert_refused(proc, 'truncated', str(cut))
    # a file with entries missing
    _, sd = v2_file
    partial = tmp_path / 'partial.pth'
    torch.save(OrderedDict(list(sd.items())[:100]), partial)
    proc = run_main(partial, tmp_path / 'x.pth')
    assert_refused(proc, 'lacks', 'truncated')
    assert not (tmp_path / 'x.pth').exists()


class Evil:

    def __reduce__(self):
        return (print, ('this ran while loading',))


def test_cli_refuses_a_crafted_pickle(tmp_path):
    src = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'first_conv.0.weight': torch.zeros(1)},
                'x': Evil()}, src)
    proc = run_tool(src, tmp_path / 'x.pth')
    assert_refused(proc, 'weights-only')
    assert 'this ran' not in proc.stdout + proc.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_converter_names_what_it_cannot_place():
    with pytest.raises(ValueError, match="not a MEGVII.*'stage2.0"):
        convert({'stage2.0.branch1.0.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match="already in mmshuffle's layout"):
        convert({'backbone.conv1.conv.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='arch must be one of'):
        convert({'conv_last.0.weight': torch.zeros(1)}, arch='resnet50')
    sd = megvii_state_dict(load_reference('shufflenet-v2-plus-small'))
    # another block choice (a 5x5 unit where the authors have a 3x3 one)
    sd['features.1.branch_main.3.weight'] = torch.zeros(18, 1, 5, 5)
    with pytest.raises(ValueError, match=r"'features.1.branch_main.3.weight'"
                       r' has shape \(18, 1, 5, 5\)'):
        convert(sd)
    sd['unexpected.weight'] = torch.zeros(1)
    del sd['features.1.branch_main.3.weight']
    with pytest.raises(ValueError, match="'unexpected.weight' does not fit"):
        convert(sd)


# ------------------------------------------------- ShuffleNetV2+ itself


@pytest.mark.parametrize('arch,channels', [
    ('small', (36, 104, 208, 416, 1280)),
    ('medium', (48, 128, 256, 512, 1280)),
    ('large', (68, 168, 336, 672, 1280)),
])
def test_shufflenet_v2_plus_outputs(arch, channels):
    model = build_backbone(
        'ShuffleNetV2Plus', arch=arch, out_indices=(0, 1, 2, 3, 4)).eval()
    assert model.out_channels == channels
    assert model.out_strides == (4, 8, 16, 32, 32)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 128, 96))
    assert [tuple(o.shape[2:]) for o in outs] == [
        (32, 24), (16, 12), (8, 6), (4, 3), (4, 3)]


def test_shufflenet_v2_plus_arguments():
    with pytest.raises(ValueError, match="arch must be one of.*'huge'"):
        build_backbone('ShuffleNetV2Plus', arch='huge')
    with pytest.raises(ValueError, match='block_choices must be .* 20 ints'):
        build_backbone('ShuffleNetV2Plus', block_choices=(0, ) * 19)
    with pytest.raises(ValueError, match='block_choices'):
        build_backbone('ShuffleNetV2Plus', block_choices=(4, ) * 20)
    xception = build_backbone('ShuffleNetV2Plus', arch='small',
                              block_choices=(3, ) * 20)
    assert len(xception.layers[0][0].branch_main) == 6
    with pytest.raises(ValueError, match='megvii=True exists for groups 3 '
                       'and 8'):
        build_backbone('ShuffleNetV1', groups=4, megvii=True)
    with pytest.raises(TypeError, match='megvii must be a bool'):
        build_backbone('ShuffleNetV2', megvii=1)


def test_megvii_forms_differ_from_the_defaults_where_the_authors_do():
    v2 = build_backbone('ShuffleNetV2', megvii=True)
    unit = v2.layers[0][0]
    assert unit.branch1[1].conv.out_channels == 24
    assert unit.branch2[2].conv.out_channels == 92
    v1 = build_backbone('ShuffleNetV1', groups=8, widen_factor=1.5,
                        megvii=True)
    assert v1.conv1.conv.out_channels == 24
    assert build_backbone('ShuffleNetV1', groups=8,
                          widen_factor=1.5).conv1.conv.out_channels == 40


def test_shufflenet_v2_plus_channels_last_equals_nchw():
    torch.manual_seed(0)
    outs = (0, 1, 2, 3, 4)
    nchw = randomize_bn_stats(build_backbone(
        'ShuffleNetV2Plus', arch='small', out_indices=outs))
    nhwc = build_backbone('ShuffleNetV2Plus', arch='small', out_indices=outs,
                          channels_last=True)
    nhwc.load_state_dict(nchw.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for model in (nchw, nhwc):
        model.train()
        sum(o.square().mean() for o in model(x)).backward()
    with torch.no_grad():
        for a, b in zip(nchw.eval()(x), nhwc.eval()(x)):
            assert b.is_contiguous(memory_format=torch.channels_last)
            assert (a - b).abs().max() < 1e-4
    for (key, a), b in zip(nchw.named_parameters(), nhwc.parameters()):
        assert (a.grad - b.grad).abs().max() <= 2e-3 * max(
            1.0, a.grad.abs().max().item()), key


def test_training_configs_are_the_authors_recipe():
    from mmengine.dataset import Compose
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import TRANSFORMS
    from mmpretrain.structures import DataSample
    for arch in ('small', 'medium', 'large'):
        path = osp.join(ROOT, 'configs', 'shufflenet_v2_plus',
                        f'shufflenet-v2-plus-{arch}_16xb64_in1k.py')
        cfg, model = build_from_config(path)
        assert model.backbone.arch == arch
        assert 16 * cfg.train_dataloader.batch_size == 1024
        assert cfg.auto_scale_lr.base_batch_size == 1024
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', 0.5, 0.9, 4e-5)
    sched = cfg.param_scheduler
    assert (sched.type, sched.power, sched.eta_min, sched.by_epoch,
            sched.end) == ('PolyLR', 1.0, 0, False, 450000)
    assert (cfg.train_cfg.by_epoch, cfg.train_cfg.max_iters) == (False,
                                                                  450000)
    loss = cfg.model.head.loss
    assert (loss.type, loss.label_smooth_val) == ('LabelSmoothLoss', 0.1)
    steps = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert steps['RandomResizedCrop'].scale == 224
    jitter = steps['ColorJitter']
    assert (jitter.brightness, jitter.contrast, jitter.saturation) == (
        0.4, 0.4, 0.4)
    assert steps['RandomFlip'].prob == 0.5
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for loader in ('train_dataloader', 'val_dataloader'):
            Compose([TRANSFORMS.build(t)
                     for t in cfg[loader].dataset.pipeline])
        # no weight decay on BatchNorm (SE and neck included)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay']
             for g in wrapper.optimizer.param_groups for p in g['params']}
    for name, p in model.named_parameters():
        assert decay[id(p)] == (4e-5 if p.dim() > 1 else 0), name
    # one training step
    model.init_weights()
    model.train()
    samples = [DataSample().set_gt_label(i) for i in (3, 7)]
    losses = model(torch.randn(2, 3, 64, 64), samples, mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert model.head.fc.weight.grad is not None


def test_detector_starts_from_a_converted_checkpoint(tmp_path):
    reference = load_reference('shufflenet-v2-plus-small')
    converted = convert(megvii_state_dict(reference))
    path = tmp_path / 'shufflenet-v2-plus-small_megvii-in1k.pth'
    torch.save({'state_dict': converted}, path)
    cfg_path = osp.join(
        ROOT, 'configs', 'retinanet',
        'retinanet-lite_shufflenet-v2-plus-small_lite-fpn_1x_coco.py')
    cfg = Config.fromfile(cfg_path)
    assert cfg.model.backbone.init_cfg.checkpoint == \
        'checkpoints/shufflenet-v2-plus-small_megvii-in1k.pth'
    assert cfg.model.data_preprocessor.mean is None
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    detector.init_weights()
    state = detector.backbone.state_dict()
    for key, value in converted.items():
        if key.startswith('backbone.'):
            assert torch.equal(state[key[len('backbone.'):]], value), key


@pytest.mark.slow
def test_test_tool_evaluates_a_converted_checkpoint(tmp_path):
    """tools/test.py runs a `_megvii-in1k` config on converted weights
    (ImageNet's layout, 4 images), through the authors' pipeline."""
    from PIL import Image
    root = tmp_path / 'imagenet'
    (root / 'val').mkdir(parents=True)
    (root / 'meta').mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i, (h, w) in enumerate([(300, 400), (500, 375), (256, 256),
                                (333, 499)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / 'val' / f'img{i}.JPEG', quality=90)
        lines.append(f'img{i}.JPEG {i}')
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')
    ckpt = tmp_path / 'shufflenet-v2-plus-small_megvii-in1k.pth'
    converted = convert(megvii_state_dict(
        load_reference('shufflenet-v2-plus-small')))
    torch.save({'state_dict': converted}, ckpt)
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'),
         config_path('shufflenet-v2-plus-small'), str(ckpt), '--work-dir',
         str(tmp_path / 'wd'), '--cfg-options',
         f'test_dataloader.dataset.data_root={root}',
         'test_dataloader.num_workers=0', 'test_dataloader.batch_size=2'],
        capture_output=True, text=True, cwd=tmp_path,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'accuracy/top1' in proc.stdout + proc.stderr
