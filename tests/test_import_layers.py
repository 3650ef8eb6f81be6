"""Layering: :mod:`mmshuffle.deploy` depends on :mod:`mmshuffle.models`,
never the reverse. Every import statement of every module under
mmshuffle/models (function-level ones included, relative ones resolved) is
read from the source, so a lazy import inside a method counts too."""
import ast
import os.path as osp
from pathlib import Path

import mmshuffle

PACKAGE_ROOT = Path(osp.dirname(mmshuffle.__file__))
FORBIDDEN = 'mmshuffle.deploy'


def imported_modules(source: str, module: str, is_package: bool):
    """Every module name that ``source`` (the text of ``module``) imports,
    relative imports resolved to absolute names, plus string arguments of
    ``importlib.import_module``/``__import__`` calls."""
    package = module if is_package else module.rpartition('.')[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - (node.level - 1)]
                prefix = '.'.join(base + ([node.module] if node.module
                                          else []))
            else:
                prefix = node.module
            names.append(prefix)
            names += [f'{prefix}.{alias.name}' for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(
                    node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else \
                getattr(func, 'id', '')
            if name in ('import_module', '__import__'):
                names.append(node.args[0].value)
    return names


def offenders(root: Path):
    found = []
    for path in sorted(root.rglob('*.py')):
        rel = path.relative_to(root.parent.parent).with_suffix('')
        parts = list(rel.parts)
        is_package = parts[-1] == '__init__'
        if is_package:
            parts = parts[:-1]
        module = '.'.join(parts)
        for name in imported_modules(path.read_text(), module, is_package):
            if name == FORBIDDEN or name.startswith(FORBIDDEN + '.'):
                found.append(f'{rel.as_posix()}.py imports {name}')
    return found


def test_models_never_import_deploy():
    models = PACKAGE_ROOT / 'models'
    assert (models / 'backbones' / 'base.py').is_file()
    assert offenders(models) == []


def test_the_check_sees_every_form_of_import(tmp_path):
    root = tmp_path / 'mmshuffle'
    (root / 'models' / 'backbones').mkdir(parents=True)
    forms = [
        'import mmshuffle.deploy',
        'from mmshuffle.deploy import switch_to_deploy',
        'from mmshuffle import deploy',
        'from ... import deploy',
        'from ...deploy.fuse import fold_bn',
        'def f():\n    from mmshuffle.deploy.onnx import export_onnx',
        'import importlib\nimportlib.import_module("mmshuffle.deploy")',
    ]
    for i, text in enumerate(forms):
        (root / 'models' / 'backbones' / f'm{i}.py').write_text(text + '\n')
    (root / 'models' / 'backbones' / 'fine.py').write_text(
        'from ..utils import make_divisible\nfrom .. import fuse\n')
    found = offenders(root / 'models')
    assert sorted({line.split()[0] for line in found}) == sorted(
        f'mmshuffle/models/backbones/m{i}.py' for i in range(len(forms)))
