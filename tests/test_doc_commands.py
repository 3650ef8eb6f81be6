"""Every shell command shown in README.md, CONTRIBUTING.md, docs/ and the
family READMEs works as written, or at least parses and resolves.

- ``tools/*.py`` commands: the tool's own argument parser accepts the
  arguments (synopses: every ``--option`` shown exists), every config named
  loads, and checkpoints and work dirs are the documented locations
  (``checkpoints/<config name>.pth``, ``work_dirs/<config name>/``);
- the ones that run here in seconds are run (``get_flops.py``, and
  ``analyze_logs.py`` when a ``make demo`` left its work dir); the toy data,
  toy training and curves commands run in ``make demo``; ImageNet, COCO and
  GPU runs can only be parsed here;
- ``make`` targets exist; ``python -c`` code compiles.
"""
import argparse
import contextlib
import glob
import importlib.util
import io
import os.path as osp
import re
import shlex

import pytest
import yaml
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = ([osp.join(ROOT, 'README.md'),
          osp.join(ROOT, 'CONTRIBUTING.md')] +
         sorted(glob.glob(osp.join(ROOT, 'docs', '*.md'))) +
         sorted(glob.glob(osp.join(ROOT, 'configs', '*', 'README.md'))))
CONFIG_NAMES = {
    osp.basename(p)[:-3]
    for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
}
DEMO_WORK_DIRS = {'demo_toy_shapes', 'demo_toy_det'}
#: other tools' default work dirs (toy_det_table.py --work-dir)
TOOL_WORK_DIRS = {'toy_det_table'}
#: run here (seconds each); the rest is parsed and resolved
RUN_HERE = ('tools/analysis_tools/get_flops.py', )
#: run by make demo (tools/misc/demo.py)
IN_DEMO = {
    'tools/misc/make_toy_data.py cls', 'tools/misc/make_toy_data.py det',
    'tools/train.py configs/toy/shufflenet-v2-1x_1xb64-30e_toy-shapes.py',
    'tools/analysis_tools/analyze_logs.py work_dirs/demo_toy_shapes',
    'tools/deployment/pytorch2onnx.py '
    'configs/toy/shufflenet-v2-1x_1xb64-30e_toy-shapes.py '
    'work_dirs/demo_toy_shapes/epoch_30.pth --out '
    'work_dirs/demo_toy_shapes/shufflenet-v2-1x_toy-shapes.onnx --shape 96 '
    '--dynamic-batch',
    'tools/deployment/test_onnx.py '
    'configs/toy/shufflenet-v2-1x_1xb64-30e_toy-shapes.py '
    'work_dirs/demo_toy_shapes/shufflenet-v2-1x_toy-shapes.onnx',
    'tools/deployment/pytorch2onnx.py '
    'configs/toy/rtmdet-lite_shufflenet-v2-1x_320_toy-det.py '
    'work_dirs/demo_toy_det/epoch_6.pth --out '
    'work_dirs/demo_toy_det/rtmdet-lite_toy-det.onnx',
    'tools/deployment/test_onnx.py '
    'configs/toy/rtmdet-lite_shufflenet-v2-1x_320_toy-det.py '
    'work_dirs/demo_toy_det/rtmdet-lite_toy-det.onnx',
    'tools/deployment/quantize.py '
    'configs/toy/rtmdet-lite_shufflenet-v2-1x_320_toy-det.py '
    'work_dirs/demo_toy_det/rtmdet-lite_toy-det.onnx --out '
    'work_dirs/demo_toy_det/rtmdet-lite_toy-det_int8.onnx --calib 64',
    'tools/deployment/standalone_infer.py '
    'work_dirs/demo_toy_det/rtmdet-lite_toy-det.onnx data/toy_det/val '
    '--out-dir work_dirs/demo_toy_det/standalone',
}


def commands(path):
    """(line number, argv) of each command of the page's bash blocks."""
    text = open(path).read()
    out = []
    for m in re.finditer(r'```bash\n(.*?)```', text, flags=re.S):
        first = text[:m.start()].count('\n') + 2
        block = m.group(1).replace('\\\n', ' ')
        for i, line in enumerate(block.splitlines()):
            argv = shlex.split(line, comments=True)
            if argv:
                out.append((first + i, argv))
    return out


ALL = [(osp.relpath(p, ROOT), n, argv) for p in PAGES
       for n, argv in commands(p)]


class Parsed(Exception):

    def __init__(self, parser, namespace=None):
        super().__init__()
        self.parser, self.namespace = parser, namespace


def load_tool(rel):
    spec = importlib.util.spec_from_file_location(
        'doc_tool_' + re.sub(r'\W', '_', rel), osp.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_with_tool(rel, args, monkeypatch, synopsis):
    """The tool's parser and what it makes of ``args`` (nothing is run)."""
    original = argparse.ArgumentParser.parse_args

    def parse(self, argv=None, namespace=None):
        if synopsis:
            raise Parsed(self)
        raise Parsed(self, original(self, argv, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse)
    with pytest.raises(Parsed) as info:
        load_tool(rel).main(args)
    monkeypatch.undo()
    return info.value


def check_paths(args):
    for arg in args:
        if arg.startswith('configs/'):
            Config.fromfile(osp.join(ROOT, arg))
        elif arg.startswith('checkpoints/'):
            name = osp.basename(arg)[:-len('.pth')]
            assert name in CONFIG_NAMES, \
                f'{arg}: checkpoints are stored under a config name'
        elif arg.startswith('work_dirs/') and arg.count('/') > 1:
            name = arg.split('/')[1]
            assert name in CONFIG_NAMES | DEMO_WORK_DIRS | TOOL_WORK_DIRS, \
                f'{arg}: not a default work dir (work_dirs/<config name>)'
            if name in TOOL_WORK_DIRS:  # WORK_DIR/<config name>/...
                assert arg.split('/')[2] in CONFIG_NAMES, \
                    f'{arg}: {name} holds a folder per config'


def is_synopsis(args):
    return any(a.isupper() or a.startswith('[') for a in args)


@pytest.mark.parametrize('page,line,argv', ALL,
                         ids=[f'{p}:{n}' for p, n, _ in ALL])
def test_documented_command(page, line, argv, monkeypatch, tmp_path):
    prog = argv[0]
    if prog == 'make':
        targets = re.findall(r'^([\w-]+):', open(osp.join(ROOT,
                                                          'Makefile')).read(),
                             flags=re.M)
        assert set(argv[1:]) <= set(targets), argv
        return
    if prog == 'pip' or argv[1:4] == ['-m', 'pip', 'install']:
        if argv[-1] == '.':
            assert osp.isfile(osp.join(ROOT, 'setup.py'))
        return
    if prog == 'python' and argv[1] == '-c':
        compile(argv[2], page, 'exec')
        return
    if prog == '.venv/bin/pre-commit':
        with open(osp.join(ROOT, '.pre-commit-config.yaml')) as f:
            yaml.safe_load(f)
        return
    if prog == 'tensorboard':
        return
    script = argv[1] if prog in ('bash', 'sh') else prog
    if script.endswith('.sh'):   # launcher scripts: exist, configs load
        assert osp.isfile(osp.join(ROOT, script)), script
        check_paths(argv[1:])
        return
    # `python` as written for an existing environment (docs/deployment.md)
    assert prog in ('.venv/bin/python', 'python'), (
        f'{page}:{line}: {argv}: teach this test how to check such commands')
    rel, args = argv[1], argv[2:]
    assert osp.isfile(osp.join(ROOT, rel)), rel
    synopsis = is_synopsis(args)
    parsed = parse_with_tool(rel, args, monkeypatch, synopsis)
    if synopsis:
        options = set(parsed.parser._option_string_actions)
        shown = {re.sub(r'[\[\]]', '', a) for a in args if '--' in a}
        assert shown <= options, f'{sorted(shown - options)} not in {rel}'
        return
    check_paths(args)
    command = ' '.join(argv[1:])
    if rel in RUN_HERE:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            load_tool(rel).main(args)
        assert out.getvalue().strip(), command
    elif rel == 'tools/analysis_tools/analyze_logs.py' and glob.glob(
            osp.join(ROOT, args[0], '*', 'vis_data', 'scalars.json')):
        # the demo's own curves step (IN_DEMO) runs it on a fresh machine;
        # where a demo already ran, run it here too
        out = load_tool(rel).main(
            [osp.join(ROOT, args[0]), '--out',
             str(tmp_path / 'curves.png')] + args[1:])
        assert osp.isfile(out)


def test_demo_runs_what_the_docs_say_it_runs():
    demo = open(osp.join(ROOT, 'tools', 'misc', 'demo.py')).read()
    shown = {' '.join(argv[1:]) for _, _, argv in ALL}
    for command in IN_DEMO:
        assert command in shown, f'{command} is no longer documented'
        tool, *rest = command.split()
        assert f"'{tool}'" in demo, command
        for arg in rest:
            assert arg.split('/')[-1].replace('.py', '') in demo, command


def test_pre_commit_runs_the_lint_of_make():
    with open(osp.join(ROOT, '.pre-commit-config.yaml')) as f:
        hooks = [h for r in yaml.safe_load(f)['repos'] for h in r['hooks']]
    make = open(osp.join(ROOT, 'Makefile')).read()
    lint = re.search(r'^lint:.*\n\t\$\(PYTHON\) (.*)$', make, flags=re.M)
    entries = [h['entry'] for h in hooks]
    command = lint.group(1).rsplit(' ', 1)[0]  # without the path '.'
    assert any(e.startswith('.venv/bin/python ' + command)
               for e in entries), (lint.group(1), entries)
