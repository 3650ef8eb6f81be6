"""OpenVINO: the optional package, and ONNX files converted to its IR."""
import os

from .metadata import read_metadata, set_ir_metadata


def require_openvino():
    """The ``openvino`` module, or an ``ImportError`` naming the package
    to install."""
    try:
        import openvino
    except ImportError as err:
        raise ImportError(
            'the openvino backend needs the openvino package; install it '
            'with `pip install openvino` (or `pip install '
            'mmshuffle[openvino]`)') from err
    return openvino


def write_ir(onnx_path: str, xml_path: str) -> str:
    """Convert an ONNX file to OpenVINO IR (``xml_path`` and its ``.bin``,
    weights kept in f32), carrying the mmshuffle metadata over into the
    IR's ``rt_info`` (:mod:`mmshuffle.deploy.metadata`). The ``.bin`` is
    moved into place first, the ``.xml`` that names it last."""
    ov = require_openvino()
    if not xml_path.endswith('.xml'):
        raise ValueError(f'an OpenVINO IR is a .xml file, got {xml_path!r}')
    model = ov.convert_model(onnx_path)
    set_ir_metadata(model, read_metadata(onnx_path))
    tmp = xml_path[:-4] + '.tmp.xml'
    ov.save_model(model, tmp, compress_to_fp16=False)
    os.replace(tmp[:-4] + '.bin', xml_path[:-4] + '.bin')
    # the .xml names its weights file by the .xml's stem: rewrite it last
    os.replace(tmp, xml_path)
    return xml_path
