import filecmp
import os.path as osp

import numpy as np
import pytest

from mmshuffle.datasets.toy import (SHAPES, make_toy_classification,
                                    render_classification_image)


def test_render_is_deterministic_and_seeds_differ():
    a, la = render_classification_image(0, 5, 64)
    b, lb = render_classification_image(0, 5, 64)
    c, _ = render_classification_image(1, 5, 64)
    assert la == lb
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert a.size == (64, 64) and a.mode == 'RGB'


def test_dataset_folder_format_loads_in_mmpretrain(tmp_path):
    out = tmp_path / 'toy'
    counts = make_toy_classification(
        str(out), num_train=60, num_val=30, size=48, progress=False)
    assert sum(counts['train'].values()) == 60
    assert set(counts['train']) == set(SHAPES)
    assert all(n > 0 for n in counts['train'].values())
    from mmpretrain.datasets import CustomDataset
    ds = CustomDataset(
        data_root=str(out),
        ann_file='meta/val.txt',
        data_prefix='val',
        classes=SHAPES,
        pipeline=[])
    assert len(ds) == 30
    item = ds[0]
    assert osp.isfile(item['img_path'])
    assert SHAPES[item['gt_label']] == osp.basename(
        osp.dirname(item['img_path']))
    # the same arguments give the same files
    again = tmp_path / 'again'
    make_toy_classification(
        str(again), num_train=60, num_val=30, size=48, progress=False)
    first = sorted((out / 'train').rglob('*.png'))
    assert first and all(
        filecmp.cmp(p, again / p.relative_to(out), shallow=False)
        for p in first)


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_train=0), 'num_train must be a positive int'),
    (dict(size=16), 'size must be >= 32'),
    (dict(train_seed=3, val_seed=3), 'must differ'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_toy_classification(str(tmp_path), progress=False, **kwargs)


def test_detection_set_is_valid_coco(tmp_path):
    from pycocotools.coco import COCO

    from mmshuffle.datasets.toy import DET_CLASSES, make_toy_detection
    counts = make_toy_detection(
        str(tmp_path), num_train=30, num_val=10, size=320, progress=False)
    assert counts['train']['images'] == 30
    sizes = []
    for split, num in (('train', 30), ('val', 10)):
        coco = COCO(str(tmp_path / 'annotations' / f'instances_{split}.json'))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(
            DET_CLASSES)
        assert len(coco.getImgIds()) == num
        for img_id in coco.getImgIds():
            info = coco.loadImgs(img_id)[0]
            assert (tmp_path / split / info['file_name']).is_file()
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
            assert 1 <= len(anns) <= 6
            for a in anns:
                x, y, w, h = a['bbox']
                assert 0 <= x and 0 <= y and x + w <= 320.01 and \
                    y + h <= 320.01
                sizes.append(max(w, h))
    assert min(sizes) < 20 and max(sizes) > 90  # ~12 to ~128 px
    # train and val come from different seeds
    a = (tmp_path / 'train' / '000000.png').read_bytes()
    b = (tmp_path / 'val' / '000000.png').read_bytes()
    assert a != b
