"""Bad data and bad configs are refused with one message that names the
file or key, the value and the problem: nothing is skipped silently, and
the tools do not answer with a traceback. (A checkpoint of another model
passed to tools/test.py: test_tools_e2e.py.)"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import make_tiny_toy_data
from mmengine.config import Config
from PIL import Image

from mmshuffle.datasets import (DataError, ImageLoadError,
                                check_classification_list,
                                check_coco_annotations, check_dataloader)
from mmshuffle.engine.cli import one_line, run_cli
from mmshuffle.engine.config_checks import (ConfigError, check_checkpoints,
                                            check_model_args,
                                            check_num_classes, check_values)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CFG = osp.join(ROOT, 'configs', 'toy',
                   'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
DET_CFG = osp.join(ROOT, 'configs', 'toy',
                   'retinanet_shufflenet-v2-1x_fpn_toy-det.py')


# --------------------------------------------------------------- COCO files
def coco(images=None, annotations=None, categories=None):
    return dict(
        images=images if images is not None else [
            dict(id=1, file_name='a.png', width=100, height=50)
        ],
        annotations=annotations if annotations is not None else [
            dict(id=7, image_id=1, category_id=1, bbox=[10, 10, 20, 20],
                 area=400, iscrowd=0)
        ],
        categories=categories if categories is not None else [
            dict(id=1, name='circle'), dict(id=2, name='square')
        ])


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_valid_coco_file_passes(tmp_path):
    path = write_json(tmp_path / 'ok.json', coco())
    data = check_coco_annotations(path, classes=('circle', 'square'))
    assert len(data['annotations']) == 1
    # images without objects are valid
    check_coco_annotations(write_json(tmp_path / 'empty.json',
                                      coco(annotations=[])))


@pytest.mark.parametrize('content,match', [
    ('', r"annotation file '.*bad.json' is empty"),
    ('{"images": [', r"annotation file '.*bad.json' is not valid JSON "
     r'\(Expecting value: line 1 column 13'),
    ('[]', "expected a JSON object .* but got a list"),
    ('{"images": [], "annotations": []}',
     r"'categories' must be a list, but it is missing"),
])
def test_unreadable_coco_file(tmp_path, content, match):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        check_coco_annotations(str(path))


@pytest.mark.parametrize('bbox,match', [
    ([90, 10, 20, 20], r'bbox \[90, 10, 20, 20\] \(x0, y0, x1, y1 = 90, 10, '
     r'110, 30\) outside its 100 x 50 image'),
    ([-5, 10, 20, 20], 'outside its 100 x 50 image'),
    ([10, 40, 20, 20], 'outside its 100 x 50 image'),
    ([10, 10, -4, 20], r'of size -4 x 20; width and height must be '
     'positive'),
    ([10, 10, 20, 0], 'of size 20 x 0'),
    ([10, 10, 20], r'bbox \[10, 10, 20\]; expected \[x, y, width, height\]'),
    ([10, 10, 'a', 20], 'four finite numbers'),
])
def test_bad_boxes(tmp_path, bbox, match):
    ann = dict(id=7, image_id=1, category_id=1, bbox=bbox)
    path = write_json(tmp_path / 'ann.json', coco(annotations=[ann]))
    with pytest.raises(DataError) as info:
        check_coco_annotations(path)
    message = str(info.value)
    assert f"annotation file '{path}': annotations[0] (id 7) of image " \
        "'a.png'" in message
    assert __import__('re').search(match, message), message


def test_box_rounding_at_the_border_is_accepted(tmp_path):
    ann = dict(id=1, image_id=1, category_id=1, bbox=[-0.4, 0, 100.5, 50.3])
    check_coco_annotations(write_json(tmp_path / 'a.json',
                                      coco(annotations=[ann])))


def test_unknown_category_and_image(tmp_path):
    ann = dict(id=3, image_id=1, category_id=9, bbox=[1, 1, 5, 5])
    path = write_json(tmp_path / 'a.json', coco(annotations=[ann]))
    with pytest.raises(DataError,
                       match=r"annotations\[0\] \(id 3\) of image 'a.png' "
                       r'has category_id 9, which is not a category id; the '
                       r'ids are \[1, 2\]'):
        check_coco_annotations(path)
    ann = dict(id=3, image_id=4, category_id=1, bbox=[1, 1, 5, 5])
    path = write_json(tmp_path / 'b.json', coco(annotations=[ann]))
    with pytest.raises(DataError, match='refers to image_id 4, which is not '
                       'in images'):
        check_coco_annotations(path)


def test_config_class_missing_from_categories(tmp_path):
    path = write_json(tmp_path / 'a.json', coco())
    with pytest.raises(DataError,
                       match=r"class 'star' of the config \(metainfo.classes"
                       r"\) is not a category of annotation file .*a.json"
                       r"'; its categories are \['circle', 'square'\]"):
        check_coco_annotations(path, classes=('circle', 'star'))


def test_missing_image_of_coco_file(tmp_path):
    path = write_json(tmp_path / 'a.json', coco())
    with pytest.raises(DataError,
                       match=rf"image file '{tmp_path}/imgs/a.png' does not "
                       r'exist \(images\[0\] of'):
        check_coco_annotations(path, str(tmp_path / 'imgs'))


# ------------------------------------------------------ classification lists
def test_classification_list(tmp_path):
    (tmp_path / 'train' / 'circle').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(tmp_path / 'train' / 'circle' / '0.png')
    classes = ('circle', 'square', 'triangle')
    good = tmp_path / 'good.txt'
    good.write_text('circle/0.png 0\n\n')
    assert check_classification_list(
        str(good), str(tmp_path / 'train'), classes) == [('circle/0.png', 0)]

    bad = tmp_path / 'bad.txt'
    bad.write_text('circle/0.png 0\ncircle/0.png 5\n')
    with pytest.raises(DataError,
                       match=rf'{bad}, line 2: class index 5 names no class; '
                       r'the config has 3 classes, indices 0 to 2 \(circle, '
                       r'square, triangle\)'):
        check_classification_list(str(bad), None, classes)
    bad.write_text('circle/0.png dog\n')
    with pytest.raises(DataError, match="line 1: label 'dog' is not an int"):
        check_classification_list(str(bad), None, classes)
    bad.write_text('circle/1.png 0\n')
    with pytest.raises(DataError, match=rf"line 1: image file "
                       rf"'{tmp_path}/train/circle/1.png' does not exist"):
        check_classification_list(str(bad), str(tmp_path / 'train'), classes)
    bad.write_text('\n')
    with pytest.raises(DataError, match='lists no images'):
        check_classification_list(str(bad))


def test_dataset_paths_of_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(DET_CFG)
    with pytest.raises(DataError,
                       match=r"train_dataloader.dataset.data_root "
                       r"'data/toy_det/' does not exist \(working directory "
                       rf'{tmp_path}\)'):
        check_dataloader(cfg, 'train_dataloader')
    make_tiny_toy_data(tmp_path, det=(2, 2, 64))
    check_dataloader(cfg, 'train_dataloader')
    check_dataloader(cfg, 'val_dataloader')
    os.remove(tmp_path / 'data' / 'toy_det' / 'val' / '000001.png')
    with pytest.raises(DataError, match="image file 'data/toy_det/val/"
                       "000001.png' does not exist"):
        check_dataloader(cfg, 'val_dataloader')
    cfg.val_dataloader.dataset.ann_file = 'annotations/nope.json'
    with pytest.raises(DataError, match=r"val_dataloader.dataset.ann_file "
                       r"'data/toy_det/annotations/nope.json' does not "
                       'exist'):
        check_dataloader(cfg, 'val_dataloader')


# ------------------------------------------------------------------ images
@pytest.mark.parametrize('damage', ['garbage', 'empty', 'missing'])
def test_unreadable_image_is_named(tmp_path, damage):
    from mmengine.registry import TRANSFORMS
    path = tmp_path / 'img.png'
    if damage == 'garbage':
        path.write_bytes(b'\x89PNG not really' * 10)
    elif damage == 'empty':
        path.write_bytes(b'')
    # the configs' scope-qualified type, as mmdet's pipeline builds it
    with TRANSFORMS.switch_scope_and_registry('mmdet') as registry:
        load = registry.build(dict(type='mmshuffle.LoadImageFromFile'))
    with pytest.raises(ImageLoadError) as info:
        load(dict(img_path=str(path)))
    if damage == 'missing':
        assert str(info.value) == f'image file {str(path)!r} does not exist'
    else:
        assert str(info.value).startswith(
            f'cannot decode image file {str(path)!r}')


def test_tools_load_images_with_the_naming_loader():
    from mmshuffle.engine.cli import fix_dataloaders
    cfg = Config.fromfile(DET_CFG)
    # the config keeps mmcv's name, which mmdet's and mmpretrain's
    # inferencers look for in the test pipeline
    assert cfg.test_dataloader.dataset.pipeline[0].type == \
        'LoadImageFromFile'
    cfg.train_dataloader.dataset = dict(
        type='RepeatDataset', times=2, dataset=cfg.train_dataloader.dataset)
    fix_dataloaders(cfg)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        dataset = dataset.get('dataset', dataset)
        assert dataset.pipeline[0].type == 'mmshuffle.LoadImageFromFile'


def test_error_from_a_dataloader_worker_becomes_one_line(tmp_path):
    path = tmp_path / 'broken.png'
    path.write_bytes(b'garbage')
    from mmshuffle.datasets import LoadImageFromFile

    class Images(torch.utils.data.Dataset):

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return LoadImageFromFile()(dict(img_path=str(path)))['img']

    loader = torch.utils.data.DataLoader(Images(), num_workers=1)
    with pytest.raises(ImageLoadError) as info:
        next(iter(loader))
    assert 'Original Traceback' in str(info.value)
    assert one_line(info.value).startswith(
        f'cannot decode image file {str(path)!r}')


# ---------------------------------------------------------- config values
@pytest.mark.parametrize('key,value,match', [
    ('train_dataloader.batch_size', 0,
     'train_dataloader.batch_size must be an int >= 1, but got 0'),
    ('val_dataloader.num_workers', -1,
     'val_dataloader.num_workers must be an int >= 0, but got -1'),
    ('train_cfg.max_epochs', 2.5,
     'train_cfg.max_epochs must be an int >= 1, but got 2.5'),
    ('optim_wrapper.optimizer.lr', -0.1,
     r'optim_wrapper.optimizer.lr must be a finite number > 0, but got '
     r'-0.1'),
    ('optim_wrapper.optimizer.lr', 'fast',
     "optim_wrapper.optimizer.lr must be a finite number > 0, but got "
     "'fast'"),
    ('optim_wrapper.optimizer.weight_decay', float('nan'),
     'weight_decay must be a finite number >= 0, but got nan'),
    ('default_hooks.checkpoint.interval', 0,
     r'default_hooks.checkpoint.interval must be an int >= 1 or -1'),
    ('randomness.seed', -3, r'randomness.seed must be None or an int in '
     r'range\(0, 2\*\*32\), but got -3'),
])
def test_out_of_range_values(key, value, match):
    cfg = Config.fromfile(CLS_CFG)
    cfg.merge_from_dict({key: value})
    with pytest.raises(ConfigError, match=match):
        check_values(cfg)


def test_every_config_of_the_project_passes():
    import glob
    paths = sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*.py')))
    assert CLS_CFG in paths and DET_CFG in paths
    for path in paths:
        if '_base_' in path:
            continue
        cfg = Config.fromfile(path)
        check_values(cfg)
        check_model_args(cfg)
        check_num_classes(cfg)


@pytest.mark.parametrize('path,changes,match', [
    (CLS_CFG, {'model.head.num_classes': 5},
     r"model.head.num_classes is 5, but train_dataloader.dataset.classes "
     r"has 6 classes \('circle', 'square', 'triangle', 'star', 'ring', "
     r"'cross'\); set model.head.num_classes=6"),
    (CLS_CFG, {'data_preprocessor.num_classes': 7},
     r'data_preprocessor.num_classes is 7, but train_dataloader.dataset.'
     r'classes has 6'),
    (osp.join(ROOT, 'configs', 'retinanet',
              'retinanet_shufflenet-v2-1x_fpn_1x_coco.py'),
     {'model.bbox_head.num_classes': 3},
     r"model.bbox_head.num_classes is 3, but train_dataloader.dataset "
     r"\(CocoDataset\) has 80 classes \('person', 'bicycle', 'car', "
     r"'motorcycle', 'airplane', 'bus', \.\.\.\)"),
    (osp.join(ROOT, 'configs', 'faster_rcnn',
              'faster-rcnn_shufflenet-v2-1x_fpn_1x_coco.py'),
     {'model.roi_head.bbox_head.num_classes': 20},
     r'model.roi_head.bbox_head.num_classes is 20, but '
     r'train_dataloader.dataset \(CocoDataset\) has 80 classes'),
])
def test_num_classes_must_match_the_data(path, changes, match):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(changes)
    with pytest.raises(ConfigError, match=match):
        check_num_classes(cfg)


def test_checkpoints_a_training_starts_from_must_exist(tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(DET_CFG)  # the toy classifier's checkpoint
    with pytest.raises(ConfigError, match=(
            r"model.backbone.init_cfg.checkpoint 'work_dirs/demo_toy_shapes"
            rf"/epoch_30.pth' does not exist \(relative to {tmp_path}\); "
            r'set it to your checkpoint, or the init_cfg to None')):
        check_checkpoints(cfg)
    cfg.model.backbone.init_cfg = None
    check_checkpoints(cfg)
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint='https://example.org/weights.pth')
    check_checkpoints(cfg)  # remote: mmengine's to fetch, not checked here
    cfg.load_from = str(tmp_path / 'none.pth')
    with pytest.raises(ConfigError, match=r"load_from '.*none.pth' does not "
                       r'exist$'):
        check_checkpoints(cfg)
    (tmp_path / 'none.pth').write_bytes(b'')
    check_checkpoints(cfg)


@pytest.mark.parametrize('path,key,value,match', [
    (CLS_CFG, 'model.backbone.widen_factr', 1.0,
     r"model.backbone: mmshuffle.ShuffleNetV2 has no argument 'widen_factr' "
     r"\(did you mean 'widen_factor'\?\); its arguments are widen_factor, "),
    (DET_CFG, 'model.backbone.out_indice', (0, 1),
     r"model.backbone: mmshuffle.ShuffleNetV2 has no argument 'out_indice' "
     r"\(did you mean 'out_indices'\?\)"),
    (CLS_CFG, 'model.backbone.widen_factor', 3.0,
     r'model.backbone \(mmshuffle.ShuffleNetV2\): widen_factor must be one '
     r'of \[0.5, 1.0, 1.5, 2.0\], but got 3.0'),
    (DET_CFG, 'model.backbone.frozen_stages', 9,
     r'model.backbone \(mmshuffle.ShuffleNetV2\): frozen_stages must be in '
     r'range\(-1, 5\)'),
])
def test_model_arguments(path, key, value, match):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({key: value})
    with pytest.raises(ConfigError, match=match):
        check_model_args(cfg)


# ------------------------------------------------------- through the tools
def load_tool(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f'tool_{name[:-3]}', osp.join(ROOT, 'tools', name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool(name, args, cwd):
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', name)] + args,
        cwd=cwd, capture_output=True, text=True,
        env=dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1'))
    return proc


def assert_one_line_error(proc, *parts):
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines()
              if ln.startswith('error: ')]
    assert len(errors) == 1, proc.stderr[-3000:]
    for part in parts:
        assert part in errors[0], errors[0]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    ws = tmp_path_factory.mktemp('bad_inputs')
    make_tiny_toy_data(ws, cls=(8, 4, 32), det=(4, 2, 64))
    return ws


@pytest.mark.slow
def test_corrupt_image_stops_training_naming_the_file(data_dir, tmp_path):
    bad = data_dir / 'data' / 'toy_shapes' / 'train'
    victim = sorted(bad.rglob('*.png'))[3]
    good = victim.read_bytes()
    victim.write_bytes(good[:40])  # header only: cannot be decoded
    try:
        proc = tool('train.py', [
            CLS_CFG, '--work-dir',
            str(tmp_path / 'wd'), '--cfg-options',
            'train_dataloader.batch_size=8',
            'train_dataloader.num_workers=1', 'train_cfg.max_epochs=1'
        ], cwd=data_dir)
    finally:
        victim.write_bytes(good)
    rel = osp.relpath(victim, data_dir)
    assert_one_line_error(proc, f"cannot decode image file '{rel}'")
    assert not (tmp_path / 'wd' / 'epoch_1.pth').exists()


@pytest.mark.parametrize('case', [
    'no data', 'misspelled argument', 'out of range', 'unknown category',
    'class list'
])
def test_tools_refuse_bad_input_in_one_line(data_dir, tmp_path, case,
                                            monkeypatch, capsys):
    """tools/train.py's main() under run_cli, in this process (each case
    fails before a Runner is built)."""
    # the tool sets LOCAL_RANK as torchrun would; keep it in this test
    monkeypatch.setenv('LOCAL_RANK', '0')
    args = [CLS_CFG, '--work-dir', str(tmp_path / 'wd'), '--cfg-options']
    cwd = data_dir
    if case == 'no data':
        cwd = tmp_path
        args.pop()  # no --cfg-options
        expected = ["train_dataloader.dataset.data_root 'data/toy_shapes' "
                    'does not exist', str(tmp_path)]
    elif case == 'misspelled argument':
        args += ['model.backbone.widen_factr=1.0']
        expected = ["has no argument 'widen_factr' (did you mean "
                    "'widen_factor'?)"]
    elif case == 'out of range':
        args += ['train_dataloader.batch_size=0']
        expected = ['train_dataloader.batch_size must be an int >= 1, but '
                    'got 0']
    elif case == 'unknown category':
        ann = tmp_path / 'ann.json'
        data = json.loads((data_dir / 'data' / 'toy_det' / 'annotations' /
                           'instances_train.json').read_text())
        data['annotations'][0]['category_id'] = 12
        ann.write_text(json.dumps(data))
        args = [DET_CFG, '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
                f'train_dataloader.dataset.ann_file={ann}']
        expected = [f"annotation file '{ann}': annotations[0]",
                    'has category_id 12, which is not a category id']
    else:
        ann = tmp_path / 'train.txt'
        first = (data_dir / 'data' / 'toy_shapes' / 'meta' /
                 'train.txt').read_text().splitlines()[0]
        ann.write_text(f'{first}\n{first.split()[0]} 6\n')
        args += [f'train_dataloader.dataset.ann_file={ann}']
        expected = [f'{ann}, line 2: class index 6 names no class']
    monkeypatch.chdir(cwd)
    train = load_tool('train.py')
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: train.main(args))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1, err
    for part in expected:
        assert part in err, err


def test_degenerate_image_files_are_valid(tmp_path):
    """Grayscale and tiny image files load as 3-channel images."""
    from mmshuffle.datasets import LoadImageFromFile
    gray = tmp_path / 'gray.png'
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(gray)
    out = LoadImageFromFile()(dict(img_path=str(gray)))
    assert out['img'].shape == (32, 32, 3)
