"""mmshuffle installs like an OpenMMLab package: a wheel carries the configs
and the model index under ``mmshuffle/.mim``, and other projects find them by
``mmshuffle::`` from any directory."""
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap
import zipfile

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

OUTSIDE = textwrap.dedent('''
    import os, sys
    import mmshuffle
    assert mmshuffle.__file__.startswith(sys.argv[1]), mmshuffle.__file__
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    cfg = get_config(
        'mmshuffle::shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py',
        pretrained=True)
    assert cfg.filename.startswith(
        os.path.join(sys.argv[1], 'mmshuffle', '.mim', 'configs')), \\
        cfg.filename
    assert cfg.model_path.endswith('.pth'), cfg.model_path
    det = get_config(
        'mmshuffle::retinanet/retinanet_shufflenet-v2-1x_fpn_1x_coco.py')
    assert det.model.neck.in_channels == [116, 232, 464]

    # a config of another project, inheriting from ours and changing its
    # classes only: what it inherits keeps the scope it names (mmpretrain)
    with open('my_config.py', 'w') as f:
        f.write("_base_ = 'mmshuffle::shufflenet_v2/"
                "shufflenet-v2-0.5x_16xb64_in1k.py'\\n"
                "model = dict(head=dict(num_classes=10))\\n")
    mine = Config.fromfile('my_config.py')
    with DefaultScope.overwrite_default_scope(mine.default_scope):
        model = MODELS.build(mine.model)
    print(type(model.backbone).__module__, model.head.fc.out_features)

    # the same for a detector of mmdet
    from mmdet.registry import MODELS as DET_MODELS
    with open('my_detector.py', 'w') as f:
        f.write("_base_ = 'mmshuffle::retinanet/retinanet-lite_"
                "shufflenet-v2-1x_lite-fpn_1x_coco.py'\\n"
                "model = dict(bbox_head=dict(num_classes=3))\\n")
    det = Config.fromfile('my_detector.py')
    with DefaultScope.overwrite_default_scope(det.default_scope):
        detector = DET_MODELS.build(det.model)
    print(type(detector.neck).__name__, detector.bbox_head.num_classes)
''')


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '--disable-pip-version-check', '-q', '-w',
        str(out), ROOT
    ], check=True, cwd=str(out))
    (path, ) = glob.glob(str(out / 'mmshuffle-*.whl'))
    return path


def test_wheel_carries_configs_and_model_index(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    mim = 'mmshuffle/.mim/'
    assert mim + 'model-index.yml' in names
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        for meta in yaml.safe_load(f)['Import']:
            assert mim + meta in names
    for cfg in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True):
        assert mim + osp.relpath(cfg, ROOT) in names, cfg
    assert not any(n.startswith(('configs/', 'tools/', 'tests/'))
                   for n in names)


def test_installed_package_configs_work_from_outside_the_repo(
        wheel, tmp_path):
    target = tmp_path / 'site'
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-compile',
        '--disable-pip-version-check', '-q', '--target',
        str(target), wheel
    ], check=True)
    work = tmp_path / 'elsewhere'
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run(
        [sys.executable, '-W', 'ignore', '-c', OUTSIDE, str(target)],
        cwd=str(work), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [
        'mmshuffle.models.backbones.shufflenet_v2', '10', 'LiteFPN', '3'
    ]


def test_development_install_runs_the_documented_example(tmp_path):
    """The editable install of ``make env`` serves ``mmshuffle::`` too: the
    example of docs/openmmlab.md runs from outside the repo."""
    import re
    page = open(osp.join(ROOT, 'docs', 'openmmlab.md')).read()
    (code, ) = [b for b in re.findall(r'```python\n(.*?)```', page, re.S)
                if 'get_config(' in b]
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    filename, model_path = proc.stdout.split()
    assert filename.endswith(
        '/mmshuffle/.mim/configs/shufflenet_v2/'
        'shufflenet-v2-1x_16xb64_in1k.py'), filename
    assert model_path.endswith('.pth')


def test_mim_links_point_at_the_top_level_files():
    mim = osp.join(ROOT, 'mmshuffle', '.mim')
    assert osp.realpath(osp.join(mim, 'configs')) == osp.join(ROOT, 'configs')
    assert osp.realpath(osp.join(mim, 'model-index.yml')) == osp.join(
        ROOT, 'model-index.yml')


def test_model_index_has_the_fields_openmim_reads():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert set(index) == {'Import'}
    for meta in index['Import']:
        with open(osp.join(ROOT, meta)) as f:
            data = yaml.safe_load(f)
        for coll in data['Collections']:
            assert {'Name', 'Metadata', 'Paper', 'README'} <= set(coll)
            assert osp.isfile(osp.join(ROOT, coll['README']))
        for model in data['Models']:
            assert {'Name', 'In Collection', 'Metadata', 'Config'} <= set(
                model), model['Name']
            for result in model.get('Results', []):
                assert {'Dataset', 'Metrics', 'Task'} <= set(result)
            if 'Weights' in model:
                assert model['Weights'].endswith('.pth')


def test_model_zoo_page_lists_every_indexed_config():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'model_zoo', osp.join(ROOT, 'docs', '_ext', 'model_zoo.py'))
    model_zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_zoo)
    page = model_zoo.render()
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        for meta in yaml.safe_load(f)['Import']:
            with open(osp.join(ROOT, meta)) as g:
                for model in yaml.safe_load(g)['Models']:
                    assert f"| `{model['Config']}` | " in page
                    params = model['Metadata']['Parameters'] / 1e6
                    assert f'| {params:.3f} |' in page


def _run(code, **kwargs):
    return subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                          capture_output=True, text=True, cwd=ROOT, **kwargs)


@pytest.mark.parametrize('package,version,wanted', [
    ('torch', '2.5.1', '>= 2.6'),
    ('torch', '1.13.0', '>= 2.6'),
    ('mmengine', '0.10.6', '>= 0.10.7, < 0.11'),
    ('mmengine', '0.11.0', '>= 0.10.7, < 0.11'),
    ('mmengine', '1.0.0', '>= 0.10.7, < 0.11'),
])
def test_import_refuses_an_unsupported_version_in_one_line(
        package, version, wanted):
    """``import mmshuffle`` with an unsupported torch or mmengine fails
    with one line naming the version it needs (the module reports the
    version, as an installed one would)."""
    proc = _run(f'import {package}; {package}.__version__ = {version!r}; '
                'import mmshuffle')
    assert proc.returncode != 0
    from mmshuffle.version import __version__
    assert proc.stderr.strip().splitlines()[-1] == (
        f'ImportError: mmshuffle {__version__} needs {package} {wanted}, '
        f'but {package} {version} is installed')


def test_supported_versions_import_and_match_setup_py():
    import ast

    import mmengine
    import torch

    import mmshuffle
    for package, version in (('torch', '2.6.0'), ('torch', '2.14.1+cu130'),
                             ('torch', '3.0.0'), ('mmengine', '0.10.7'),
                             ('mmengine', '0.10.9')):
        assert mmshuffle.unsupported(package, version) is None, version
    assert mmshuffle.unsupported('torch', torch.__version__) is None
    assert mmshuffle.unsupported('mmengine', mmengine.__version__) is None
    # setup.py states the same ranges as the import check
    tree = ast.parse(open(osp.join(ROOT, 'setup.py')).read())
    requires = next(
        [ast.literal_eval(e) for e in kw.value.elts]
        for node in ast.walk(tree) if isinstance(node, ast.Call)
        for kw in node.keywords if kw.arg == 'install_requires')
    assert 'torch>=2.6' in requires
    assert 'mmengine>=0.10.7,<0.11' in requires
    assert mmshuffle.SUPPORTED == {'torch': ((2, 6), None),
                                   'mmengine': ((0, 10, 7), (0, 11))}


def test_the_lower_bounds_are_the_apis_mmshuffle_uses():
    """torch 2.6 brought ``ONNXProgram.optimize`` and
    ``get_unsafe_globals_in_checkpoint``; mmengine 0.10.7's CheckpointHook
    has the private step that AtomicCheckpointHook reproduces, with the
    same signature."""
    import inspect

    import torch
    from mmengine.hooks import CheckpointHook

    from mmshuffle.engine import AtomicCheckpointHook
    assert callable(torch.onnx.ONNXProgram.optimize)
    assert callable(torch.serialization.get_unsafe_globals_in_checkpoint)
    theirs = CheckpointHook._save_checkpoint_with_step
    ours = AtomicCheckpointHook._save_checkpoint_with_step
    assert inspect.signature(theirs) == inspect.signature(ours)
    # the steps it reproduces are still mmengine's
    source = inspect.getsource(theirs)
    for step in ('self.keep_ckpt_ids.popleft()', "'keep_ckpt_ids'",
                 "update_info('last_ckpt'", 'runner.save_checkpoint('):
        assert step in source, step


def test_version_check_fails_before_the_heavy_imports():
    """The check costs nothing: an unsupported version is refused before
    mmcv, mmdet or mmpretrain is imported."""
    proc = _run('import sys, torch\n'
                "torch.__version__ = '2.5.0'\n"
                'try:\n    import mmshuffle\nexcept ImportError:\n'
                '    pass\n'
                'print(" ".join(sorted(m for m in ("mmcv", "mmdet", '
                '"mmpretrain", "mmshuffle.models") if m in sys.modules)))')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ''


def test_documented_installs_give_the_mmshuffle_lookup():
    """README and get started show only installs that serve
    ``mmshuffle::`` configs: ``pip install .`` (the wheel tests above); a
    plain editable install cannot, so it is never shown as a command."""
    import re
    import shlex
    for page in ('README.md', osp.join('docs', 'get_started.md')):
        text = open(osp.join(ROOT, page)).read()
        installs = [
            shlex.split(line) for block in re.findall(
                r'```bash\n(.*?)```', text, re.S)
            for line in block.splitlines() if 'pip install' in line
        ]
        assert installs, page
        for argv in installs:
            assert '-e' not in argv and '--editable' not in argv, (page, argv)
