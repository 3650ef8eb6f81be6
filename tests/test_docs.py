"""README.md and docs/ cannot rot: their Python examples run, and every
file path they mention exists."""
import contextlib
import glob
import io
import os.path as osp
import re

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = [osp.join(ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(ROOT, 'docs', '*.md'))) + sorted(
        glob.glob(osp.join(ROOT, 'configs', '*', 'README.md')))


def blocks(path, lang):
    text = open(path).read()
    return re.findall(rf'```{lang}\n(.*?)```', text, flags=re.S)


@pytest.mark.parametrize('path', DOCS, ids=lambda p: osp.relpath(p, ROOT))
def test_paths_mentioned_exist(path):
    text = open(path).read()
    for ref in set(re.findall(
            r'(?<![\w/])((?:configs|tools|docs|mmshuffle|tests)/[\w./<>-]+)',
            text)):
        ref = ref.rstrip('.')
        if '<' in ref or ref.endswith('/'):
            continue
        candidates = [osp.join(ROOT, ref), osp.join(osp.dirname(path), ref)]
        assert any(osp.exists(c) for c in candidates), \
            f'{osp.relpath(path, ROOT)} mentions {ref}, which does not exist'


def test_readme_python_example_runs_and_prints_what_it_says():
    code = [b for b in blocks(osp.join(ROOT, 'README.md'), 'python')
            if 'import mmshuffle' in b]
    assert code
    for snippet in code:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(snippet, 'README.md', 'exec'), {})
        prints = [ln for ln in snippet.splitlines() if ln.startswith('print(')]
        printed_lines = out.getvalue().splitlines()[-len(prints):]
        for line, printed in zip(prints, printed_lines):
            if '# ' in line:
                expected = line.split('# ', 1)[1].strip()
                if expected.startswith('('):
                    assert printed.replace(' ', '') == expected.replace(
                        ' ', ''), (line, printed)


@pytest.mark.parametrize('path', DOCS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_snippets_parse(path):
    for snippet in blocks(path, 'python'):
        compile(snippet, path, 'exec')
