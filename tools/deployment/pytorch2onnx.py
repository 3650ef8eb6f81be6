"""Export a classifier, a detector (end to end) or a backbone alone to
ONNX and check it in onnxruntime (the OpenMMLab name of
``tools/deployment/export.py --format onnx``, which also writes OpenVINO
IR, ExecuTorch programs and INT8 files).

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE.onnx
        [--shape H [W]] [--dynamic-batch] [--backbone-only] [--raw-input]
        [--image-hw] [--opset 18] [--tolerance 1e-4] [--check-images N|DIR]
        [--cfg-options KEY=VALUE ...]

What the file holds and how it is checked against PyTorch (a classifier
on random input, a detector box for box on test images):
:mod:`mmshuffle.deploy.export_tool`, whose ``main`` this runs.
"""
import mmshuffle  # noqa: F401  (registers backbones, safe loading)
from mmshuffle.deploy.export_tool import main as export_main
from mmshuffle.engine.cli import run_cli


def main(argv=None):
    export_main(argv, default_format='onnx', doc=__doc__)


if __name__ == '__main__':
    run_cli(main)
