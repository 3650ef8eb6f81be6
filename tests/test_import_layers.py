"""Layering: the packages of mmshuffle stand on floors, and a module
imports only from its own package or from a package on a lower floor
(:data:`FLOORS`): models never import deploy, deploy never imports the
benchmarks. Every import statement of every module (function-level ones
included, relative ones resolved) is read from the source, so a lazy
import inside a method counts too. ``import mmshuffle`` loads no benchmark,
rendering or inference module."""
import ast
import os.path as osp
import subprocess
import sys
from pathlib import Path

import mmshuffle

PACKAGE_ROOT = Path(osp.dirname(mmshuffle.__file__))
FORBIDDEN = 'mmshuffle.deploy'
#: floor of each part of the package, lowest first: a module may import
#: its own package and the packages of lower floors
FLOORS = {
    'mmshuffle.version': 0,
    'mmshuffle.registry': 0,
    'mmshuffle.models': 1,
    'mmshuffle.datasets': 1,
    'mmshuffle.engine': 2,
    'mmshuffle.converters': 2,
    'mmshuffle.deploy': 3,
    'mmshuffle.apis': 4,
    'mmshuffle.analysis': 4,
}


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


def modules(root: Path, base: Path):
    """(path relative to ``base``, dotted module name, is a package) of
    every source file under ``root``."""
    for path in sorted(root.rglob('*.py')):
        rel = path.relative_to(base).with_suffix('')
        parts = list(rel.parts)
        is_package = parts[-1] == '__init__'
        if is_package:
            parts = parts[:-1]
        yield path, rel, '.'.join(parts), is_package


def offenders(root: Path):
    found = []
    for path, rel, module, is_package in modules(root, root.parent.parent):
        for name in imported_modules(path.read_text(), module, is_package):
            if name == FORBIDDEN or name.startswith(FORBIDDEN + '.'):
                found.append(f'{rel.as_posix()}.py imports {name}')
    return found


def floor_of(module: str):
    """The :data:`FLOORS` entry ``module`` belongs to and its floor, or
    ``(None, None)`` (the top-level ``mmshuffle`` package, or a name
    that is not mmshuffle's)."""
    for part, floor in FLOORS.items():
        if module == part or module.startswith(part + '.'):
            return part, floor
    return None, None


def upward_imports(root: Path):
    """``'<file> imports <module>'`` for each import of a module on the
    same floor in another part, or on a higher floor."""
    found = []
    for path, rel, module, is_package in modules(root, root.parent):
        part, floor = floor_of(module)
        if part is None:
            continue
        for name in imported_modules(path.read_text(), module, is_package):
            other, other_floor = floor_of(name)
            if other is None or other == part:
                continue
            if other_floor >= floor:
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


def test_every_part_of_the_package_has_a_floor():
    parts = {f'mmshuffle.{p.stem if p.is_file() else p.name}'
             for p in PACKAGE_ROOT.iterdir()
             if (p.suffix == '.py' and p.stem != '__init__')
             or (p.is_dir() and (p / '__init__.py').is_file())}
    assert parts == set(FLOORS)


def test_no_module_imports_a_module_above_it():
    assert upward_imports(PACKAGE_ROOT) == []


def test_the_floor_check_sees_upward_and_sideways_imports(tmp_path):
    root = tmp_path / 'mmshuffle'
    for part in ('models', 'deploy', 'analysis/bench', 'engine',
                 'converters'):
        (root / part).mkdir(parents=True)
        (root / part / '__init__.py').write_text('')
    (root / 'models' / 'a.py').write_text(
        'def f():\n    from mmshuffle.analysis.bench import timing\n')
    (root / 'engine' / 'b.py').write_text('from ..converters import x\n')
    (root / 'deploy' / 'fine.py').write_text(
        'from ..models import a\nfrom . import c\nimport numpy\n')
    (root / 'analysis' / 'bench' / 'fine.py').write_text(
        'from ...deploy import fine\nfrom .. import report\n')
    assert upward_imports(root) == [
        'mmshuffle/engine/b.py imports mmshuffle.converters',
        'mmshuffle/engine/b.py imports mmshuffle.converters.x',
        'mmshuffle/models/a.py imports mmshuffle.analysis.bench',
        'mmshuffle/models/a.py imports mmshuffle.analysis.bench.timing',
    ]


def test_import_mmshuffle_loads_no_benchmark_or_rendering_module():
    code = ('import sys, mmshuffle; print(sorted(m for m in sys.modules '
            "if m.startswith(('mmshuffle.analysis.bench', "
            "'mmshuffle.analysis.report', "
            "'mmshuffle.analysis.toy_table', 'mmshuffle.apis'))))")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == '[]'
