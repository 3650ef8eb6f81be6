_base_ = [
    '../_base_/models/faster-rcnn_fpn.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
    '../_base_/schedules/toy_det_12e.py',
]
# Faster R-CNN on the DetNAS COCO-FPN-300M backbone laid out as the DetNAS
# COCO config (configs/detnas/faster-rcnn_detnas-coco-fpn-300m_fpn_1x_coco.py:
# all four stages -> P2-P6, anchors at strides 4-64, RoIs pooled from P2-P5,
# BGR 0-255 input without mean/std, every BN trained), CPU-sized: one unit
# per stage (the first four of the searched choices), plain BN (one
# device), 128-channel FPN and RoI features, a 2-fc 512-d box head (the COCO
# config: 256 channels, 4 convs + 1 fc with SyncBN), at most 300 proposals
# and 128 sampled RoIs per image, on the built-in toy shapes. No ImageNet
# weights: the backbone starts from the authors' initialisation, its BN
# layers learn their statistics.
model = dict(
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        type='mmshuffle.ShuffleNetV2DetNAS',
        arch='coco-fpn-300m',
        stage_blocks=(1, 1, 1, 1),
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 160, 320, 640], out_channels=128),
    rpn_head=dict(
        in_channels=128,
        feat_channels=128,
        # toy objects are 12-128 px: anchors 16 px at P2 .. 256 at P6
        anchor_generator=dict(scales=[4], strides=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=128, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            in_channels=128, fc_out_channels=512, num_classes=4)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)),
)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
