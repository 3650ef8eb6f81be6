_base_ = './faster-rcnn_detnas-coco-fpn-300m_fpn_1x_coco.py'
# Faster R-CNN + FPN on the DetNAS COCO-FPN-1.3G backbone: the authors'
# recipe of the 300M config (their
# configs/e2e_faster_rcnn_DETNAS_COCO_FPN_1d3G_1x.yaml differs from the
# 300M one only in the backbone and its weights).
pretrained = 'checkpoints/detnas-coco-fpn-1.3g_megvii-in1k.pth'
model = dict(
    backbone=dict(
        arch='coco-fpn-1.3g',
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[96, 240, 480, 960]),
)
