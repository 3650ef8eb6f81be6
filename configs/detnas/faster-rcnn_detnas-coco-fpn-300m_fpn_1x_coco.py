_base_ = [
    '../_base_/models/faster-rcnn_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
# Faster R-CNN + FPN on the DetNAS COCO-FPN-300M backbone, as the DetNAS
# authors train it (megvii-model/DetNAS,
# configs/e2e_faster_rcnn_DETNAS_COCO_FPN_300M_1x.yaml on maskrcnn-benchmark;
# see configs/detnas/README.md for what is theirs and what is inferred):
# - BGR 0-255 input without mean/std (their PIXEL_MEAN 0, PIXEL_STD 1,
#   TO_BGR255), the input of the ImageNet weights; short side 800, long
#   side at most 1333, horizontal flip;
# - SyncBN everywhere, trained: backbone (every BN, nothing frozen), FPN
#   convs and the box head's convs (FPN.USE_SYNCBN, ROI_BOX_HEAD.USE_SYNCBN);
# - FPN on all four stages (strides 4-32): P2-P5 and P6 by max-pooling;
#   anchors 32-512 px at strides 4-64; RoIAlign 7x7 (2 samples) on P2-P5;
#   box head 4 convs + 1 fc (their FPNXconv1fcFeatureExtractor);
# - smooth L1 box losses (beta 1/9 for the RPN, 1 for the box head);
# - SGD lr 0.02 for 16 images (8 GPUs x 2), momentum 0.9, weight decay 1e-4
#   (none on conv and fc biases, whose lr is doubled; mmengine leaves the
#   BN biases at lr x 1, where theirs doubles every bias), 500-iteration
#   linear warm-up
#   from 1/3, lr x 0.1 twice: their 90k iterations with steps at 60k and
#   80k (2/3 and 8/9 of training) become mmdet's 1x (12 epochs, steps after
#   8 and 11: 2/3 and 11/12).
# ImageNet weights: the authors' COCO_FPN_300M classifier converted by
# tools/model_converters/megvii2mmshuffle.py (see docs/weights.md);
# override with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/detnas-coco-fpn-300m_megvii-in1k.pth'
model = dict(
    # those weights were trained on BGR 0-255 images without mean/std
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        type='mmshuffle.ShuffleNetV2DetNAS',
        arch='coco-fpn-300m',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=[64, 160, 320, 640],
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    rpn_head=dict(
        anchor_generator=dict(scales=[8], strides=[4, 8, 16, 32, 64]),
        loss_bbox=dict(
            type='SmoothL1Loss', _delete_=True, beta=1.0 / 9.0,
            loss_weight=1.0)),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2),
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_bbox=dict(
                type='SmoothL1Loss', _delete_=True, beta=1.0,
                loss_weight=1.0))),
)
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=1.0 / 3,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        _scope_='mmdet',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0))
