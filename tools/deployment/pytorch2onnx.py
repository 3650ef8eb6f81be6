"""Export a classifier, a detector (end to end) or a backbone alone to
ONNX and check it in onnxruntime (the OpenMMLab name of
``tools/deployment/export.py --format onnx``, which also writes OpenVINO
IR, ExecuTorch programs and INT8 files).

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE.onnx
        [--shape H [W]] [--dynamic-batch] [--backbone-only] [--raw-input]
        [--image-hw] [--opset 18] [--tolerance 1e-4] [--check-images N|DIR]
        [--cfg-options KEY=VALUE ...]

The model of CONFIG is built, CHECKPOINT is loaded strictly, the model is
switched to its deploy form (BatchNorm folded) and exported. Then the ONNX
file runs in onnxruntime on the same random input as the checkpoint's model
in PyTorch, as trained (eval mode, BatchNorm not folded): batch 1, and batch
8 with ``--dynamic-batch``. The maximum absolute difference is printed and
the tool fails (exit 1) above ``--tolerance``.

A classifier exports as ``input`` (normalised N x 3 x H x W, see the
config's ``data_preprocessor``) -> ``logits``. ``--backbone-only`` exports
the backbone (of a classification or a detection config) as ``input`` ->
``feat0, feat1, ...``, the multi-scale maps of its ``out_indices``.

A detection config (mmdet) exports the whole detector as one graph
(:mod:`mmshuffle.deploy.detection`): ``input`` (N x 3 x H x W, H and W any
multiples of the detector's size divisor, N variable with
``--dynamic-batch``) -> ``dets`` (N x K x 5: x1, y1, x2, y2, score) and
``labels`` (N x K), with box decoding, the score threshold, per-class NMS
and the top K of the config's ``test_cfg`` inside the graph (padding rows:
score 0, label -1). ``--raw-input`` folds the data preprocessor's channel
conversion and normalisation in, so the graph takes 0-255 pixels in the
pipeline's channel order. ``--image-hw`` adds a second input ``image_hw``
(N x 2): the height and width of each image of a padded batch before the
padding; boxes are clipped to it before NMS, as mmdet clips each image's
(without it, to the input tensor: the same for images that fill it). The
check runs images through the config's test pipeline, mmdet's predict path
and onnxruntime: ``--check-images N`` the first N of the config's test set
(2 by default), ``--check-images DIR`` the images of a folder of yours.
It fails (exit 1) unless every box matches one of the same class within
``--box-tolerance`` pixels and ``--score-tolerance`` (boxes at the score
threshold, or at the other side's full top-K cut, aside), and when no box
was matched (nothing was compared: check on images with objects). A test
set that cannot be read, or holds no image, is an error before anything is
exported (pass a folder, or ``--check-images 0`` to export without the
check).
"""
import mmshuffle  # noqa: F401  (registers backbones, safe loading)
from mmshuffle.deploy.export_tool import main as export_main
from mmshuffle.engine.cli import run_cli


def main(argv=None):
    export_main(argv, default_format='onnx', doc=__doc__)


if __name__ == '__main__':
    run_cli(main)
