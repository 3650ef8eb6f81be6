"""Export a classifier, a detector (end to end) or a backbone to ONNX,
OpenVINO IR or ExecuTorch, in fp32 or INT8, and check it against PyTorch.

    python tools/deployment/export.py CONFIG CHECKPOINT --out PATH
        [--format onnx|openvino|executorch] [--int8 [--calib-images N]
        [--calib-dir DIR]] [--shape H [W]] [--dynamic-batch]
        [--backbone-only] [--raw-input] [--image-hw] [--opset 18]
        [--tolerance 1e-4] [--check-images N|DIR] [--cfg-options ...]

What each format holds, how the file is checked and how INT8 is
calibrated: :mod:`mmshuffle.deploy.export_tool` (``--help`` lists the
options).
"""
import mmshuffle  # noqa: F401  (registers backbones, safe loading)
from mmshuffle.deploy.export_tool import main as export_main
from mmshuffle.engine.cli import run_cli


def main(argv=None):
    export_main(argv, default_format='onnx', doc=__doc__)


if __name__ == '__main__':
    run_cli(main)
