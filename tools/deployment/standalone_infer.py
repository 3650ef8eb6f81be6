"""Run an exported model with onnxruntime, numpy and Pillow only: no
PyTorch, mmcv, mmengine, mmdet, mmpretrain or mmshuffle is imported.

    python tools/deployment/standalone_infer.py MODEL.onnx IMAGE [IMAGE ...]
        [--out-dir DIR] [--threads N] [--score-thr 0.3]
        [--max-pixels 100000000]

The program is one file, ``mmshuffle/deploy/standalone.py``, run here
without importing the mmshuffle package; copy that file to a host without
PyTorch and run it there the same way. Everything it needs (the test
pipeline's resize, crop and padding, mean, std, channel order, classes,
thresholds, outputs) is in the model's metadata, written by
``tools/deployment/pytorch2onnx.py``.
"""
import os.path as osp
import runpy

PROGRAM = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..',
                   'mmshuffle', 'deploy', 'standalone.py')


def main(argv=None):
    runpy.run_path(PROGRAM)['main'](argv)


if __name__ == '__main__':
    main()
