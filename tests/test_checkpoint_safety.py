"""Checkpoints from elsewhere cannot run code: a crafted pickle is refused,
with an error naming the file, on every path that reads a checkpoint.
Checkpoint files and the ``last_checkpoint`` marker are written
atomically."""
import errno
import os
import os.path as osp
import pickle
import re
import subprocess
import sys

import pytest
import torch
from helpers import make_tiny_toy_data

from mmshuffle.engine import (CheckpointReadError, UnsafeCheckpointError,
                              atomic_write, load_checkpoint_file)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CFG = osp.join(ROOT, 'configs', 'toy',
                   'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
DET_CFG = osp.join(ROOT, 'configs', 'toy',
                   'retinanet_shufflenet-v2-1x_fpn_toy-det.py')


class Exploit:
    """Unpickling this would run a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Exploit(str(marker))}, path)
    # the file really is dangerous with the unrestricted unpickler
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    return path, marker


def test_loader_refuses_and_names_the_file(evil):
    path, marker = evil
    with pytest.raises(UnsafeCheckpointError, match='refusing to load '
                       f'checkpoint .*{path.name}'):
        load_checkpoint_file(str(path))
    assert not marker.exists()
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(UnsafeCheckpointError):  # mmengine's own entry point
        _load_checkpoint(str(path))
    assert not marker.exists()


def _cli(args, cwd):
    return subprocess.run([sys.executable] + args,
                          cwd=cwd,
                          capture_output=True,
                          text=True)


@pytest.mark.slow
@pytest.mark.parametrize('path_kind', [
    'test.py', 'load_from', 'resume', 'init_cfg', 'converter'
])
def test_every_cli_path_refuses_a_crafted_pickle(evil, tmp_path, path_kind):
    path, marker = evil
    # the runner builds its dataloaders before it loads a checkpoint
    make_tiny_toy_data(tmp_path, cls=(12, 6, 32), det=(4, 2, 64))
    train = osp.join(ROOT, 'tools', 'train.py')
    if path_kind == 'test.py':
        args = [osp.join(ROOT, 'tools', 'test.py'), CLS_CFG, str(path)]
    elif path_kind == 'load_from':
        args = [train, CLS_CFG, '--cfg-options', f'load_from={path}']
    elif path_kind == 'resume':
        args = [train, CLS_CFG, '--resume', str(path)]
    elif path_kind == 'init_cfg':
        args = [
            train, DET_CFG, '--cfg-options',
            f'model.backbone.init_cfg.checkpoint={path}'
        ]
    else:
        args = [
            osp.join(ROOT, 'tools', 'model_converters',
                     'torchvision2mmshuffle.py'),
            str(path),
            str(tmp_path / 'out.pth')
        ]
    # the tools fail on the checkpoint before they need any data
    proc = _cli(args + ['--work-dir', str(tmp_path / 'wd')]
                if path_kind != 'converter' else args, cwd=tmp_path)
    assert proc.returncode != 0
    assert 'refusing to load checkpoint' in proc.stderr, proc.stderr[-2000:]
    assert str(path) in proc.stderr
    assert not marker.exists()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / 'ckpt.pth'
    atomic_write(b'old', target)

    def crash(fd):
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a save

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b'new' * 1000, target)
    monkeypatch.undo()
    assert target.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ckpt.pth']


def test_mmengine_saves_through_the_atomic_backend(tmp_path):
    from mmengine.fileio import get_file_backend
    from mmengine.runner.checkpoint import save_checkpoint

    from mmshuffle.engine import AtomicLocalBackend
    assert isinstance(get_file_backend(str(tmp_path)), AtomicLocalBackend)
    save_checkpoint({'state_dict': {'w': torch.ones(2)}},
                    str(tmp_path / 'a.pth'))
    assert torch.load(tmp_path / 'a.pth', weights_only=True)['state_dict'][
        'w'].sum() == 2
    assert [p.name for p in tmp_path.iterdir()] == ['a.pth']


def _toy_runner(work_dir, max_epochs, resume=False):
    """A real mmengine Runner on a two-parameter model."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else out

    data = [dict(inputs=torch.ones(2) * i) for i in range(4)]
    return Runner(
        model=Toy(),
        work_dir=str(work_dir),
        train_dataloader=DataLoader(data, batch_size=2),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(
            type='mmshuffle.AtomicCheckpointHook', interval=1,
            max_keep_ckpts=2)),
        custom_hooks=[dict(type='mmshuffle.SafeCheckpointHook')],
        resume=resume,
        default_scope='mmengine')


def test_last_checkpoint_marker_is_written_atomically(tmp_path, monkeypatch):
    """The marker names the newest checkpoint; a crash while it is being
    replaced leaves the previous complete marker, never an empty one."""
    work_dir = tmp_path / 'run'
    _toy_runner(work_dir, max_epochs=3).train()
    marker = work_dir / 'last_checkpoint'
    assert marker.read_text() == str(work_dir / 'epoch_3.pth')
    # max_keep_ckpts=2 bookkeeping is mmengine's: epoch_1 was removed
    assert sorted(p.name for p in work_dir.glob('epoch_*.pth')) == [
        'epoch_2.pth', 'epoch_3.pth']

    real_replace = os.replace

    def crash_on_marker(src, dst):
        if osp.basename(dst) == 'last_checkpoint':
            raise KeyboardInterrupt  # killed while the marker is replaced
        return real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', crash_on_marker)
    with pytest.raises(KeyboardInterrupt):
        _toy_runner(work_dir, max_epochs=4, resume=True).train()
    monkeypatch.undo()
    assert marker.read_text() == str(work_dir / 'epoch_3.pth')
    assert (work_dir / 'epoch_4.pth').is_file()
    assert not list(work_dir.glob('.last_checkpoint*'))  # no temp left


def test_train_tool_upgrades_a_plain_checkpoint_hook():
    from mmengine.config import Config

    from mmshuffle.engine.cli import add_safe_checkpoint_hook
    cfg = Config(dict(default_hooks=dict(
        checkpoint=dict(type='CheckpointHook', interval=2))))
    add_safe_checkpoint_hook(cfg)
    assert cfg.default_hooks.checkpoint.type == \
        'mmshuffle.AtomicCheckpointHook'
    assert cfg.default_hooks.checkpoint.interval == 2
    assert [h.type for h in cfg.custom_hooks] == [
        'mmshuffle.SafeCheckpointHook']


def _train_args(work_dir, max_epochs):
    """tools/train.py on the tiny toy shapes (48 images: 6 iterations per
    epoch), a checkpoint every epoch, all kept, no validation."""
    return [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CLS_CFG, '--work-dir',
        str(work_dir), '--cfg-options', f'train_cfg.max_epochs={max_epochs}',
        'train_cfg.val_interval=100', 'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1'
    ]


def _run_until_iteration(args, cwd, iteration, then):
    """Start ``args`` (in its own process group, as a terminal runs a
    command); when its log reports training iteration ``iteration``
    (counted over all epochs), call ``then(proc)``. Returns the process
    (finished) and its whole output."""
    import re
    import signal

    def as_a_terminal_starts_it():
        # a shell starts background jobs with SIGINT ignored, and the child
        # inherits that (Python then never raises KeyboardInterrupt); a
        # command typed at a terminal has the default
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=dict(os.environ, OMP_NUM_THREADS='1'),
        start_new_session=True, preexec_fn=as_a_terminal_starts_it)
    out, fired = [], False
    for line in proc.stdout:
        out.append(line)
        m = re.search(r'Epoch\(train\) +\[(\d+)\]\[(\d+)/(\d+)\]', line)
        if m and not fired:
            epoch, it, per_epoch = map(int, m.groups())
            if (epoch - 1) * per_epoch + it >= iteration:
                then(proc)
                fired = True
    proc.wait()
    return proc, ''.join(out)


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_resume_finishes(tmp_path):
    """SIGKILL a training run at a random moment after its first
    checkpoint, then ``--resume``: it continues from the last complete
    checkpoint and ends with as many epochs and iterations as an
    uninterrupted run (6 epochs x 6 iterations)."""
    import glob
    import random
    import signal
    import time

    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    make_tiny_toy_data(tmp_path, cls=(48, 12, 64))
    work_dir = tmp_path / 'run'
    args = _train_args(work_dir, max_epochs=6)
    # a random iteration of epochs 2-6, then a random fraction of it
    target = rng.randint(7, 35)
    delay = rng.uniform(0, 0.1)

    def kill(proc):
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)

    proc, log = _run_until_iteration(args, tmp_path, target, kill)
    info = f'seed {seed}: killed at iteration {target} + {delay:.3f} s'
    assert proc.returncode == -signal.SIGKILL, info + log[-2000:]
    saved = sorted(glob.glob(str(work_dir / 'epoch_*.pth')))
    assert saved, info
    last = max(torch.load(p, weights_only=True)['meta']['epoch']
               for p in saved)  # every file on disk is complete
    resumed = subprocess.run(
        args + ['--resume'], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, info + resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert f'resumed epoch: {last}, iter: {last * 6}' in log, info
    final = torch.load(work_dir / 'epoch_6.pth', weights_only=True)
    assert (final['meta']['epoch'], final['meta']['iter']) == (6, 36), info


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_names_the_last_checkpoint(tmp_path):
    import signal
    make_tiny_toy_data(tmp_path, cls=(48, 12, 64))
    work_dir = tmp_path / 'run'
    # data-loading worker processes too, as Ctrl-C in a terminal signals
    # the whole process group
    args = _train_args(work_dir, max_epochs=50) + [
        'train_dataloader.num_workers=2'
    ]
    proc, log = _run_until_iteration(
        args, tmp_path, 9, lambda p: os.killpg(p.pid, signal.SIGINT))
    assert proc.returncode == 130, log[-3000:]
    last = work_dir / 'epoch_1.pth'
    assert ('interrupted (Ctrl-C) during epoch 2, iteration ') in log
    assert (f'the last complete checkpoint is {last}; continue with '
            f'tools/train.py {CLS_CFG} --work-dir {work_dir} --resume') in log
    assert 'Traceback' not in log, log[-3000:]
    torch.load(last, weights_only=True)
    assert not list(work_dir.glob('.*.tmp'))


@pytest.mark.slow
def test_sigkill_while_saving_then_resume_completes(tmp_path):
    """Kill a real training run (SIGKILL) while it is writing a checkpoint,
    then ``--resume``: every checkpoint on disk is complete and the resumed
    run finishes all its epochs."""
    import glob
    import signal
    import time

    make_tiny_toy_data(tmp_path, cls=(48, 12, 64))
    work_dir = tmp_path / 'run'
    args = _train_args(work_dir, max_epochs=8)
    proc = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    killed_mid_save = False
    deadline = time.time() + 300
    try:
        # wait until the second checkpoint's temporary file appears, i.e.
        # the process is in the middle of writing it, and kill it there
        while time.time() < deadline and proc.poll() is None:
            tmp = glob.glob(str(work_dir / '.epoch_*.pth.*.tmp'))
            if tmp and glob.glob(str(work_dir / 'epoch_1.pth')):
                proc.send_signal(signal.SIGKILL)
                killed_mid_save = True
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None and not killed_mid_save:
            proc.kill()
        proc.wait()
    assert killed_mid_save, 'the run ended before a save could be caught'
    saved = sorted(glob.glob(str(work_dir / 'epoch_*.pth')))
    assert saved
    for path in saved:  # no truncated checkpoint under a final name
        torch.load(path, weights_only=True)
    marker = work_dir / 'last_checkpoint'
    if marker.exists():  # absent only if killed before the first marker
        torch.load(marker.read_text(), weights_only=True)
    resumed = subprocess.run(
        args + ['--resume'], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = torch.load(work_dir / 'epoch_8.pth', weights_only=True)
    assert final['meta']['epoch'] == 8
    assert 'resumed epoch:' in resumed.stdout + resumed.stderr


def _saved(tmp_path, name='good.pth'):
    good = tmp_path / name
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    return good


def _damaged(tmp_path, damage):
    """A checkpoint file damaged in one way."""
    data = _saved(tmp_path).read_bytes()
    bad = tmp_path / 'bad.pth'
    if damage == 'truncated':
        bad.write_bytes(data[:len(data) // 2])
    elif damage == 'empty':
        bad.write_bytes(b'')
    elif damage == 'garbage':
        bad.write_bytes(b'not a checkpoint at all')
    elif damage == 'bit flip':
        # one byte of the pickled data changed: the zip archive is
        # complete, the member's CRC no longer matches
        import zipfile
        with zipfile.ZipFile(bad.parent / 'good.pth') as archive:
            info = next(i for i in archive.infolist()
                        if i.filename.endswith('data.pkl'))
        start = info.header_offset  # the member's local header
        offset = start + 30 + int.from_bytes(
            data[start + 26:start + 28], 'little') + int.from_bytes(
                data[start + 28:start + 30], 'little') + 5
        data = bytearray(data)
        data[offset] ^= 0xFF
        bad.write_bytes(bytes(data))
    elif damage == 'directory':
        bad.mkdir()
    return bad


CAUSES = {
    'truncated': r'the file is truncated \(its zip archive ends before the '
    r'central directory',
    'empty': r'the file is empty \(0 bytes\)',
    'garbage': r'not a PyTorch checkpoint \(neither a zip archive nor a '
    r'pickle\)',
    'bit flip': r"the file is corrupted \(member '.*data.pkl' fails its CRC "
    r'check\)',
    'directory': 'it is a directory, not a file',
}


@pytest.mark.parametrize('damage', sorted(CAUSES))
def test_each_cause_of_an_unreadable_checkpoint_has_its_message(
        tmp_path, damage):
    bad = _damaged(tmp_path, damage)
    with pytest.raises(CheckpointReadError) as info:
        load_checkpoint_file(str(bad))
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(info.value).startswith(f"cannot read checkpoint '{bad}': ")
    assert re.search(CAUSES[damage], str(info.value)), str(info.value)
    assert 'truncated' not in str(info.value) or damage == 'truncated'


@pytest.mark.parametrize('damage', ['truncated', 'bit flip', 'garbage'])
def test_causes_do_not_depend_on_torchs_wording(tmp_path, damage,
                                                monkeypatch):
    """The cause comes from the file, not from torch's message: the same
    file gets the same explanation whatever torch says."""
    bad = _damaged(tmp_path, damage)
    real = load_checkpoint_file
    with pytest.raises(CheckpointReadError) as first:
        real(str(bad))

    def reworded(*args, **kwargs):
        raise RuntimeError('some future wording of a load failure')

    monkeypatch.setattr(torch, 'load', reworded)
    with pytest.raises(CheckpointReadError) as second:
        real(str(bad))
    assert str(second.value) == str(first.value)


def test_unsafe_file_is_found_from_its_contents_not_torchs_message(
        evil, monkeypatch):
    path, marker = evil

    def reworded(*args, **kwargs):
        raise pickle.UnpicklingError('reworded refusal')

    monkeypatch.setattr(torch, 'load', reworded)
    with pytest.raises(UnsafeCheckpointError,
                       match=r'refusing to load .*\(posix.system\)'):
        load_checkpoint_file(str(path))
    assert not marker.exists()


def test_an_io_error_while_reading_is_named(tmp_path, monkeypatch):
    good = _saved(tmp_path)

    def failing_disk(*args, **kwargs):
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(torch, 'load', failing_disk)
    with pytest.raises(CheckpointReadError,
                       match=f"cannot read checkpoint '{good}': "
                       r'Input/output error \(EIO\)$'):
        load_checkpoint_file(str(good))


def test_an_intact_checkpoint_torch_cannot_load_is_not_called_corrupted(
        tmp_path, monkeypatch):
    good = _saved(tmp_path)

    def unexpected(*args, **kwargs):
        raise RuntimeError('device-side failure')

    monkeypatch.setattr(torch, 'load', unexpected)
    with pytest.raises(CheckpointReadError) as info:
        load_checkpoint_file(str(good))
    assert str(info.value) == (
        f"cannot read checkpoint '{good}': torch.load failed on an intact "
        'archive: RuntimeError: device-side failure')


def test_unreadable_file_is_permission_denied(tmp_path, monkeypatch):
    good = _saved(tmp_path)
    good.chmod(0)
    if os.geteuid() == 0:
        # root reads any file: make open() answer as it does for others
        import builtins

        import mmshuffle.engine.checkpoint as checkpoint_module

        def denied(file, mode='r', *args, **kwargs):
            if str(file) == str(good):
                raise PermissionError(errno.EACCES, 'Permission denied',
                                      str(file))
            return builtins.open(file, mode, *args, **kwargs)

        monkeypatch.setattr(checkpoint_module, 'open', denied,
                            raising=False)
    with pytest.raises(CheckpointReadError) as info:
        load_checkpoint_file(str(good))
    assert str(info.value) == (
        f"cannot read checkpoint '{good}': permission denied")


def test_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_checkpoint_file(str(tmp_path / 'nothing.pth'))


def _mode(path):
    import stat
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('umask', [0o022, 0o002, 0o077])
def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with open(tmp_path / 'plain', 'wb') as f:
            f.write(b'x')
        atomic_write(b'x', tmp_path / 'atomic')
        from mmengine.fileio import get_file_backend
        backend = get_file_backend(str(tmp_path))
        backend.put(b'x', str(tmp_path / 'put.pth'))
        backend.put_text('x', str(tmp_path / 'put.txt'))
    finally:
        os.umask(previous)
    assert _mode(tmp_path / 'plain') == 0o666 & ~umask
    for name in ('atomic', 'put.pth', 'put.txt'):
        assert _mode(tmp_path / name) == _mode(tmp_path / 'plain'), name
    # an existing file keeps its mode, as with open(path, 'wb')
    (tmp_path / 'atomic').chmod(0o640)
    atomic_write(b'y', tmp_path / 'atomic')
    assert _mode(tmp_path / 'atomic') == 0o640


def test_checkpoints_and_marker_of_a_run_are_readable_by_others(tmp_path):
    previous = os.umask(0o022)
    try:
        _toy_runner(tmp_path / 'run', max_epochs=1).train()
    finally:
        os.umask(previous)
    for name in ('epoch_1.pth', 'last_checkpoint'):
        assert _mode(tmp_path / 'run' / name) == 0o644, name


@pytest.mark.slow
def test_test_tool_reports_a_truncated_checkpoint(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(good.read_bytes()[:500])
    proc = _cli([osp.join(ROOT, 'tools', 'test.py'), CLS_CFG, str(bad)],
                cwd=tmp_path)
    assert proc.returncode == 2
    assert f"error: cannot read checkpoint '{bad}'" in proc.stderr
    assert 'Traceback' not in proc.stderr


OPT_OUT = '''
import torch
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.runner import checkpoint as mmengine_checkpoint

import mmshuffle
from mmshuffle.engine import AtomicLocalBackend
from mmshuffle.engine.checkpoint import load_from_local as ours

loaders = mmengine_checkpoint.CheckpointLoader._schemes
assert type(get_file_backend('x.pth')) is AtomicLocalBackend
assert loaders[''] is ours
mmshuffle.restore_mmengine_defaults()
assert type(get_file_backend('x.pth')) is LocalBackend
assert loaders[''] is mmengine_checkpoint.load_from_local
# mmshuffle's models and the mmshuffle:: lookup stay
from mmengine.config.utils import MODULE2PACKAGE
assert MODULE2PACKAGE['mmshuffle'] == 'mmshuffle'
assert mmshuffle.MODELS.get('ShuffleNetV2') is mmshuffle.ShuffleNetV2
print('restored')
'''


def test_restore_mmengine_defaults_opts_out():
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', OPT_OUT],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == 'restored'


def test_onnx_export_is_written_by_the_atomic_writer(tmp_path, monkeypatch):
    """export_onnx writes through atomic_write (fsync included): the file
    gets the mode of a plain open(), and a crash before the rename leaves
    no file."""
    from mmshuffle.deploy.onnx import export_onnx
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    previous = os.umask(0o027)
    try:
        export_onnx(model, str(tmp_path / 'a.onnx'), (32, 32))
    finally:
        os.umask(previous)
    assert _mode(tmp_path / 'a.onnx') == 0o640
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync',
                        lambda fd: synced.append(fd) or real_fsync(fd))
    export_onnx(model, str(tmp_path / 'b.onnx'), (32, 32))
    assert synced

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(model, str(tmp_path / 'c.onnx'), (32, 32))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.onnx', 'b.onnx']
