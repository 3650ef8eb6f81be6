_base_ = ['./shufflenet-v2-plus-small_16xb64_in1k.py']
# ShuffleNetV2+ Medium with the authors' recipe: 16 GPUs x 64 images = batch
# 1024, 450,000 iterations (see the Small config)
model = dict(backbone=dict(arch='medium'))
