"""No test leaves ``os.environ`` changed: the autouse guard of
``conftest.py`` fails one that does (later tests and the subprocesses they
start would inherit the change)."""
import os.path as osp
import shutil
import subprocess
import sys

from conftest import environ_changes

TESTS = osp.dirname(osp.abspath(__file__))

LEAKY = '''
import os


def test_sets_a_variable():
    os.environ['MMSHUFFLE_LEAK'] = '1'


def test_removes_a_variable():
    os.environ.pop('MMSHUFFLE_PRESENT')


def test_undoes_itself(monkeypatch):
    monkeypatch.setenv('MMSHUFFLE_LEAK', '2')
    monkeypatch.delenv('MMSHUFFLE_PRESENT')


def test_later_test_sees_a_clean_environment():
    assert 'MMSHUFFLE_LEAK' not in os.environ
    assert os.environ['MMSHUFFLE_PRESENT'] == 'yes'
'''


def test_changes_are_found():
    assert environ_changes({'A': '1', 'B': '2'}, {'A': '1', 'C': '3'}) == {
        'B': ('2', None), 'C': (None, '3')}
    assert environ_changes({'A': '1'}, {'A': '2'}) == {'A': ('1', '2')}
    assert environ_changes({}, {'TORCHINDUCTOR_CACHE_DIR': '/x'}) == {}


def test_a_leaking_test_fails_and_the_environment_is_restored(tmp_path):
    shutil.copy(osp.join(TESTS, 'conftest.py'), tmp_path / 'conftest.py')
    (tmp_path / 'test_leaky.py').write_text(LEAKY)
    env = dict(__import__('os').environ, MMSHUFFLE_PRESENT='yes',
               COLUMNS='1000')
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '-rE', 'test_leaky.py'],
        cwd=tmp_path, capture_output=True, text=True, env=env)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert '4 passed, 2 errors' in out, out[-3000:]
    assert ("ERROR test_leaky.py::test_sets_a_variable - Failed: the test "
            "leaked environment changes (name: before -> after): "
            "{'MMSHUFFLE_LEAK': (None, '1')}") in out, out[-3000:]
    assert ("ERROR test_leaky.py::test_removes_a_variable - Failed: the "
            "test leaked environment changes (name: before -> after): "
            "{'MMSHUFFLE_PRESENT': ('yes', None)}") in out, out[-3000:]
