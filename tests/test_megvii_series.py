"""The rest of the authors' series beside tests/test_megvii.py's parity:
ShuffleNetV2.Large's training head with its auxiliary classifiers, the
searched backbones' arguments, and the converter's refusals for the DetNAS,
OneShot and Large families."""
import pytest
import torch
from helpers import build_backbone
from test_megvii import (build_from_config, config_path, load_reference,
                         megvii_state_dict)

from mmshuffle.converters.megvii import convert, detect_arch


def test_large_head_adds_the_auxiliary_losses_with_the_authors_weights():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg, _ = build_from_config(config_path('shufflenet-v2-exlarge'))
    assert cfg.model.head.aux_loss_weights == (0.3, 0.5, 0.7)
    cfg, _ = build_from_config(config_path('shufflenet-v2-large'))
    cfg.model.backbone.stage_blocks = (1, 1, 1, 1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    samples = [DataSample().set_gt_label(i) for i in (3, 7)]
    losses = model(x, samples, mode='loss')
    assert sorted(losses) == ['loss', 'loss_aux0', 'loss_aux1', 'loss_aux2']
    # each auxiliary loss is its classifier's cross-entropy, weighted
    feats = model.extract_feat(x)
    assert [f.shape[1] for f in feats] == [256, 512, 1024, 1280]
    target = torch.tensor([3, 7])
    model.eval()  # BN statistics fixed for the comparison below
    with torch.no_grad():
        feats = model.extract_feat(x)
        got = model.head.loss(feats, samples)
        for i, weight in enumerate((0.3, 0.5, 0.7)):
            expected = weight * torch.nn.functional.cross_entropy(
                model.head.aux[i](feats[i]), target)
            assert torch.allclose(got[f'loss_aux{i}'], expected,
                                  rtol=1e-5), i
    model.train()
    losses = model(x, samples, mode='loss')
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # prediction uses the main head only
    model.eval()
    with torch.no_grad():
        logits = model(x, mode='tensor')
        main = model.head.fc(model.extract_feat(x)[-1].mean(dim=(2, 3)))
    assert torch.allclose(logits, main, atol=1e-5)


def test_deeply_supervised_head_arguments():
    from mmshuffle.models import DeeplySupervisedClsHead
    with pytest.raises(ValueError, match='aux_loss_weights must hold one '
                       r'weight per auxiliary classifier \(2\)'):
        DeeplySupervisedClsHead(10, 32, aux_channels=((8, 8), (16, 16)),
                                aux_loss_weights=(0.5, ))
    with pytest.raises(ValueError, match='aux_channels must be a list of'):
        DeeplySupervisedClsHead(10, 32, aux_channels=(8, 16),
                                aux_loss_weights=(0.5, 0.5))
    head = DeeplySupervisedClsHead(10, 32, aux_channels=((8, 8), ),
                                   aux_loss_weights=(0.5, ))
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(1)]
    with pytest.raises(ValueError, match='needs 2 feature maps'):
        head.loss((torch.randn(1, 32, 4, 4), ), samples)
    with pytest.raises(ValueError, match=r'feature map of shape \(N, 32'):
        head((torch.randn(1, 32), ))
    # an auxiliary classifier on a map of another width: one line
    with pytest.raises(ValueError, match=r'auxiliary classifier 0 takes 8 '
                       r'channels \(aux_channels\) but feature map 0 has '
                       r'shape \(1, 12, 8, 8\)'):
        head.loss((torch.randn(1, 12, 8, 8), torch.randn(1, 32, 4, 4)),
                  samples)
    with pytest.raises(ValueError, match='mid_channels must be None'):
        DeeplySupervisedClsHead(10, 32, mid_channels=16)


def test_searched_backbones_arguments():
    with pytest.raises(ValueError, match="arch must be one of.*'coco-x'"):
        build_backbone('ShuffleNetV2DetNAS', arch='coco-x')
    with pytest.raises(ValueError, match='stage_blocks must be four ints'):
        build_backbone('ShuffleNetV2DetNAS', stage_blocks=(1, 1, 9, 1))
    with pytest.raises(ValueError, match='stage_blocks'):
        build_backbone('ShuffleNetV2Large', stage_blocks=(1, 1, 1))
    with pytest.raises(ValueError, match='channel_scales must be a list'):
        build_backbone('ShuffleNetV2OneShot', channel_scales=(1.0, ) * 19)
    with pytest.raises(ValueError, match=r'channel_scales must be numbers '
                       r'in \(0, 2\]'):
        build_backbone('ShuffleNetV2OneShot', channel_scales=(3.0, ) * 20)
    with pytest.raises(ValueError, match='block_choices'):
        build_backbone('ShuffleNetV2OneShot', block_choices=(5, ) * 20)
    # the searched widths: int(out // 2 * scale), the first unit 44 wide
    oneshot = build_backbone('ShuffleNetV2OneShot')
    assert oneshot.layers[0][0].branch_main[0].conv.out_channels == 44
    # DetNAS's stem and conv_last convolutions carry a bias
    detnas = build_backbone('ShuffleNetV2DetNAS', arch='voc-fpn-300m')
    assert detnas.conv1.conv.bias is not None
    assert detnas.layers[4].conv.bias is not None
    with pytest.raises(ValueError, match=r'groups must divide the widths '
                       r'of the grouped convs \(128, 256, 512, 1024\), but '
                       'got 3'):
        build_backbone('ShuffleNetV2Large', groups=3)
    large = build_backbone('ShuffleNetV2Large', stage_blocks=(1, 1, 1, 1))
    assert large.stem[0].bn.eps == 1e-9
    assert build_backbone('ShuffleNetV2ExLarge', stage_blocks=(
        1, 1, 1, 1)).stem[0].bn.eps == 1e-5


def test_converter_names_the_first_misfit_of_the_new_families():
    sd = megvii_state_dict(load_reference('detnas-coco-fpn-300m'))
    # a DetNAS file read as another DetNAS network
    with pytest.raises(ValueError, match=r"'first_conv.conv.weight' has "
                       r'shape \(16, 3, 3, 3\) but detnas-coco-fpn-1.3g '
                       r'expects \(48, 3, 3, 3\)'):
        convert(sd, arch='detnas-coco-fpn-1.3g')
    with pytest.raises(ValueError, match=r"'features.2.conv.1.interstellar1c"
                       r"_shufflenet_7x7_branch2b_s.weight' has shape \(32, "
                       r'1, 7, 7\) but detnas-voc-fpn-300m expects \(32, 1, '
                       r'3, 3\)'):
        convert(sd, arch='detnas-voc-fpn-300m')
    # a unit whose kind no published network has
    renamed = {k.replace('1a_shufflenet_7x7', '1a_shufflenet_3x3'): v
               for k, v in sd.items()}
    with pytest.raises(ValueError, match=r'no published DetNAS network has a '
                       r'stem of 16 channels .* units \(0, 1, 2, 0'):
        detect_arch(renamed)
    # a wrong shape
    key = 'features.0.conv.1.interstellar1a_shufflenet_7x7_branch2b_s.weight'
    bad = dict(sd)
    bad[key] = torch.zeros(32, 1, 5, 5)
    with pytest.raises(ValueError, match=rf"'{key}' has shape \(32, 1, 5, "
                       r'5\) but detnas-coco-fpn-300m expects \(32, 1, 7, 7'):
        convert(bad)
    # OneShot: the searched widths
    sd = megvii_state_dict(load_reference('oneshot'))
    assert detect_arch(sd) == 'oneshot'
    sd['features.0.branch_main.0.weight'] = torch.zeros(40, 16, 1, 1)
    with pytest.raises(ValueError, match=r"'features.0.branch_main.0.weight' "
                       r'has shape \(40, 16, 1, 1\) but oneshot expects '
                       r'\(44, 16, 1, 1\)'):
        convert(sd)


def test_converter_checks_the_twin_names_of_large_se_layers():
    """ShuffleNetV2.Large's SE layers have two names each in the authors'
    state dict: ``se_block`` is kept, the ``se_fc`` twin must match it."""
    reference = load_reference('shufflenet-v2-large')
    keys = [e['key'] for e in reference['state_dict']]
    shapes = {e['key']: tuple(e['shape']) for e in reference['state_dict']}
    twin = 'features.0.2a.se_fc1.weight'
    assert twin in keys
    sd = {k: torch.empty(shapes[k]) for k in keys}  # shapes matter here
    assert detect_arch(sd) == 'shufflenet-v2-large'
    sd[twin] = torch.empty(4, 4)
    with pytest.raises(ValueError, match=rf"'{twin}' repeats 'features.0.2a"
                       r".se_block.0.weight', which is missing or of another "
                       'shape'):
        convert(sd)
    # a key past the last stage: one line, not an IndexError
    reference = load_reference('shufflenet-v2-exlarge')
    sd = {e['key']: torch.empty(e['shape']) for e in reference['state_dict']}
    sd['features.7.0.proj.conv.weight'] = torch.empty(1)
    with pytest.raises(ValueError, match="'features.7.0.proj.conv.weight' "
                       'does not fit'):
        convert(sd)
