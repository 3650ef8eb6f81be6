_base_ = [
    '../_base_/models/retinanet_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
# RetinaNet on the DetNAS COCO-RetinaNet-300M backbone, as the DetNAS authors
# train it (megvii-model/DetNAS,
# configs/retinanet/retinanet_DETNAS_COCO_FPN_300M_1x.yaml on
# maskrcnn-benchmark; see configs/detnas/README.md for what is theirs and
# what is inferred):
# - BGR 0-255 input without mean/std (PIXEL_MEAN 0, PIXEL_STD 1), the input
#   of the ImageNet weights; short side 800, long side at most 1333, flip;
# - SyncBN in the backbone, trained (every BN, nothing frozen); FPN and head
#   without norm layers (their RetinaNet leaves FPN.USE_SYNCBN and
#   RETINANET.USE_SYNCBN off);
# - FPN on stages 2-4 (strides 8-32) -> P3-P5, P6 and P7 by stride-2 convs on
#   P5 (their LastLevelP6P7 on P5); anchors 32-512 px, 3 scales per octave,
#   3 ratios; IoU 0.5 / 0.4;
# - focal loss (alpha 0.25, gamma 2); smooth L1 (beta 0.11) on box deltas
#   coded with weights (10, 10, 5, 5), averaged over the 4 coordinates of
#   each positive (loss_weight 0.25); test: score > 0.05, top 1000 per level,
#   NMS IoU 0.4, 100 boxes;
# - SGD lr 0.01 for 16 images (8 GPUs x 2), momentum 0.9, weight decay 1e-4
#   (none on conv and fc biases, whose lr is doubled; mmengine leaves the
#   BN biases at lr x 1, where theirs doubles every bias), 500-iteration
#   linear warm-up
#   from 1/3, lr x 0.1 twice: their 90k iterations with steps at 60k and
#   80k (2/3 and 8/9 of training) become mmdet's 1x (12 epochs, steps after
#   8 and 11: 2/3 and 11/12).
# ImageNet weights: the authors' COCO_RetinaNet_300M classifier converted by
# tools/model_converters/megvii2mmshuffle.py (see docs/weights.md);
# override with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/detnas-coco-retinanet-300m_megvii-in1k.pth'
model = dict(
    # those weights were trained on BGR 0-255 images without mean/std
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        type='mmshuffle.ShuffleNetV2DetNAS',
        arch='coco-retinanet-300m',
        # stages 2-4 (strides 8, 16, 32) -> P3-P7
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[160, 320, 640], add_extra_convs='on_output'),
    bbox_head=dict(
        bbox_coder=dict(target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_bbox=dict(
            type='SmoothL1Loss', _delete_=True, beta=0.11,
            loss_weight=0.25)),
    test_cfg=dict(nms=dict(iou_threshold=0.4)),
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
    optimizer=dict(lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0))
