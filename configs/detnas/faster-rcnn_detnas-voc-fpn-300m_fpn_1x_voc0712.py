_base_ = [
    '../_base_/models/faster-rcnn_fpn.py',
    '../_base_/datasets/voc0712.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
# Faster R-CNN + FPN on the DetNAS VOC-FPN-300M backbone on PASCAL VOC
# (VOC2007+2012 trainval, tested on VOC2007 test), with the authors' COCO
# recipe (megvii-model/DetNAS,
# configs/e2e_faster_rcnn_DETNAS_COCO_FPN_300M_1x.yaml; they publish no VOC
# config) and mmdet's VOC input size and schedule (inferred; see
# configs/detnas/README.md):
# - BGR 0-255 input without mean/std (their PIXEL_MEAN 0, PIXEL_STD 1,
#   TO_BGR255), the input of the ImageNet weights; short side 800, long
#   side at most 1333 on COCO (here VOC's 600/1000), horizontal flip;
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
#   from 1/3; on VOC mmdet's schedule (below) instead of their 90k COCO
#   iterations.
# ImageNet weights: the authors' VOC_FPN_300M classifier converted by
# tools/model_converters/megvii2mmshuffle.py (see docs/weights.md);
# override with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/detnas-voc-fpn-300m_megvii-in1k.pth'
model = dict(
    # those weights were trained on BGR 0-255 images without mean/std
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        type='mmshuffle.ShuffleNetV2DetNAS',
        arch='voc-fpn-300m',
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
            num_classes=20,
            conv_out_channels=256,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_bbox=dict(
                type='SmoothL1Loss', _delete_=True, beta=1.0,
                loss_weight=1.0))),
)
# mmdet's VOC07+12 schedule: 4 epochs over the 3-times repeated trainval
# set (about 12 passes, 12.4k iterations at 16 images), lr x 0.1 after
# epoch 3, after a 500-iteration linear warm-up from 1/3 (the authors'
# warm-up).
train_cfg = dict(
    type='EpochBasedTrainLoop', _scope_='mmdet', max_epochs=4, val_interval=1)
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
        end=4,
        by_epoch=True,
        milestones=[3],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0))
