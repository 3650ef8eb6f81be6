_base_ = [
    '../_base_/models/ssdlite.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
]
# SSDLite (as configs/ssdlite/ssdlite_shufflenet-v2-1x_320_coco.py) on the
# built-in toy shapes (320x320 images, so the COCO config's 320x320 anchor
# layout applies), with the other toy detection configs' schedule. The
# backbone starts from the toy classification demo's checkpoint, standing in
# for ImageNet weights (same Pretrained path as the COCO configs); override
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/demo_toy_shapes/epoch_30.pth'
model = dict(
    # the toy pipeline keeps the aspect ratio: pad to the backbone's stride,
    # as the exported graph needs (images of any shape, as in mmdet)
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(1, 3),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=(232, 1024),
        out_channels=(232, 1024, 512, 256, 256, 128)),
    bbox_head=dict(
        num_classes=4,
        in_channels=(232, 1024, 512, 256, 256, 128),
        # toy objects are 12-128 px: anchors from 16 px at stride 16 to
        # 192 px on the 1x1 map (COCO: 48 to 320)
        anchor_generator=dict(
            min_sizes=[16, 32, 64, 96, 128, 160],
            max_sizes=[32, 64, 96, 128, 160, 192])),
)
train_cfg = dict(
    type='EpochBasedTrainLoop', _scope_='mmdet', max_epochs=12, val_interval=4)
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
# lr 0.002, a fifth of the RetinaNet toy configs' 0.01: with 0.01 SSD's
# summed hard-negative-mined loss grew the backbone's depthwise kernels until
# its features no longer depended on the image (MobileNet V2 after 4 epochs:
# the same boxes on every image, bbox mAP 0.000); 0.002 trains (0.062 after
# 4 epochs). mmdet's COCO recipe, 0.015 at batch 192, is 3e-4 at batch 4.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', _scope_='mmdet', lr=0.002, momentum=0.9,
        weight_decay=4e-5),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=100),
    dict(
        type='CosineAnnealingLR',
        _scope_='mmdet',
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=12),
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
