"""Train the toy detectors of the accuracy-latency table with one budget
and record their COCO box mAP.

    python tools/analysis_tools/toy_det_table.py [--epochs N] [--jobs 2]
        [--threads T] [--families F ...] [--backbones B ...]
        [--work-dir work_dirs/toy_det_table]
        [--json docs/benchmarks/det_toy.json] [--force]
    python tools/analysis_tools/toy_det_table.py --plot PNG
        [--json docs/benchmarks/det_toy.json]
        [--latency docs/benchmarks/det_toy_latency.json]

The table's detectors are RetinaNet (CPU-sized), RetinaNet-lite, SSDLite,
RTMDet-lite and Light-Head R-CNN on ShuffleNet V2 1x, ShuffleNet V1 1x g3
and MobileNet V2 1x: the toy configs
``configs/toy/<family>_<backbone>_*_toy-det.py``. Every one gets the
same budget: the configs' 12 epochs of batch 4 over the 800 training
images, or ``--epochs N`` (the cosine decay then spans N epochs), the
backbone starting from the toy classifier of its backbone. The
classifiers (``configs/toy/<backbone>_1xb64-30e_toy-shapes.py``, 30
epochs) are trained first where their checkpoint (the detector configs'
``pretrained``) is missing, in the order of ``--backbones``; the toy data
sets are generated where missing.

``--jobs N`` runs N trainings side by side, each with one thread (on a 2-core
machine two one-thread runs finish sooner than two two-thread runs in turn);
each row records its threads, training seconds and the CPU that trained it
(kept in the run's work dir as ``cpu.txt``, so that a reused run keeps its CPU;
``unknown`` where a run has none). A detector's figures are those of the
validation mmengine runs after the last epoch (COCO bbox mAP, mAP50, mAP75 on
the 200 val images; EMA weights where the config keeps an EMA), with its
parameters and FLOPs at 320x320. The rows are written to ``--json`` as they
finish (atomically); rows already there for the same config and number of
epochs are kept, so an interrupted run resumes where it stopped; a detector
whose work dir holds a finished run of the same number of epochs is not
retrained (its seconds are then those of its log, from first to last line).
``--force`` retrains the selected detectors all the same (after a change to
their configs) and replaces their rows; the other rows are kept. Each run's log
is ``WORK_DIR/<config>/run.log``.

``--plot PNG`` draws bbox mAP against forward latency (1 thread, at 320,
from ``benchmark.py det --toy``'s JSON, ``--latency``): one point per
detector and backbone.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmshuffle.analysis.bench.timing import cpu_name  # noqa: E402
from mmshuffle.analysis.report import draw_map_latency  # noqa: E402
from mmshuffle.analysis.toy_table import (  # noqa: E402
    BACKBONES, FAMILIES, TOY_SIZE, toy_det_config)
from mmshuffle.engine.cli import (CLIError, OneLineArgumentParser,  # noqa
                                  run_cli)
from mmshuffle.engine.configs import (build_model,  # noqa: E402
                                      dataset_length, shorten_schedule)
from mmshuffle.engine.fileio import atomic_write  # noqa: E402


def parse_args(argv=None):
    parser = OneLineArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--families', nargs='+', default=list(FAMILIES),
                        choices=list(FAMILIES))
    parser.add_argument('--backbones', nargs='+', default=list(BACKBONES),
                        choices=list(BACKBONES))
    parser.add_argument('--epochs', type=int,
                        help='the budget: epochs of batch 4 for every '
                        "detector, the cosine decay over them (default: the "
                        "configs' 12)")
    parser.add_argument('--jobs', type=int, default=2,
                        help='trainings side by side, one thread each')
    parser.add_argument('--threads', type=int,
                        help='threads per training (default: 1 with '
                        '--jobs > 1, else all cores)')
    parser.add_argument('--work-dir', default='work_dirs/toy_det_table')
    parser.add_argument('--json', default='docs/benchmarks/det_toy.json')
    parser.add_argument('--force', action='store_true',
                        help='retrain the selected detectors even where '
                        '--json or their work dir holds a run (the other '
                        'rows are kept)')
    parser.add_argument('--plot', metavar='PNG',
                        help='only draw mAP against latency to PNG')
    parser.add_argument('--latency',
                        default='docs/benchmarks/det_toy_latency.json',
                        help="benchmark.py det --toy's JSON (for --plot)")
    return parser.parse_args(argv)


def run(cmd, log_path, threads):
    """Run one tool with ``threads`` intra-op threads, its output to
    ``log_path``; returns (stdout text, seconds)."""
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    start = time.time()
    with open(log_path, 'a') as log:
        log.write(f'$ {" ".join(cmd)}\n')
        log.flush()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=log, text=True)
        log.write(proc.stdout)
    if proc.returncode != 0:
        raise CLIError(f'{" ".join(cmd[1:3])} failed (exit '
                       f'{proc.returncode}); its log: {log_path}')
    return proc.stdout, time.time() - start


def budget_of(cfg):
    loader = cfg.train_dataloader
    return dict(epochs=cfg.train_cfg.max_epochs,
                batch_size=loader.batch_size)


def train_classifier(py, backbone, checkpoint, threads, log_dir):
    work_dir = osp.dirname(checkpoint)
    config = osp.join('configs', 'toy', f'{backbone}_1xb64-30e_toy-shapes.py')
    print(f'classifier {backbone}: training {config} -> {checkpoint}',
          flush=True)
    _, seconds = run([py, 'tools/train.py', config, '--work-dir', work_dir],
                     osp.join(log_dir, f'{backbone}_toy-shapes.log'),
                     threads)
    if not osp.isfile(osp.join(ROOT, checkpoint)):
        raise CLIError(f'training {config} left no {checkpoint}')
    print(f'classifier {backbone}: {seconds:.0f} s', flush=True)


def train_images(cfg):
    """The number of training images of ``cfg`` (its data paths are
    relative to the repository, where the trainings run)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return dataset_length(cfg)
    finally:
        os.chdir(cwd)


def complexity(config):
    """Parameters and FLOPs of a detector config at the toy size."""
    from mmshuffle.analysis import model_complexity
    cfg = Config.fromfile(osp.join(ROOT, config))
    info = model_complexity(build_model(cfg, pretrained=False),
                            (TOY_SIZE, TOY_SIZE))
    return dict(params=info['params'], flops=info['flops'])


def final_metrics(work_dir):
    """The COCO metrics of the validation mmengine runs after the last
    epoch (from the newest run's ``vis_data/scalars.json``)."""
    runs = sorted(glob.glob(osp.join(ROOT, work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not runs:
        raise CLIError(f'{work_dir} has no vis_data/scalars.json')
    with open(runs[-1]) as f:
        records = [json.loads(ln) for ln in f if 'coco/bbox_mAP' in ln]
    if not records:
        raise CLIError(f'{runs[-1]} has no validation metrics')
    return records[-1]


def finished_run(work_dir, epochs):
    """The training seconds of a finished run of ``epochs`` epochs in
    ``work_dir`` (its last checkpoint is ``epoch_<epochs>.pth`` and it was
    validated after it), from the first and last time stamps of its
    mmengine log; None where there is no such run."""
    marker = osp.join(ROOT, work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        if osp.basename(f.read().strip()) != f'epoch_{epochs}.pth':
            return None
    logs = sorted(glob.glob(osp.join(ROOT, work_dir, '*', '*.log')))
    if not logs:
        return None
    stamps = []
    with open(logs[-1]) as f:
        for line in f:
            if re.match(r'\d{4}/\d\d/\d\d \d\d:\d\d:\d\d', line):
                stamps.append(datetime.strptime(line[:19],
                                                '%Y/%m/%d %H:%M:%S'))
    if not stamps or 'coco/bbox_mAP' not in open(logs[-1]).read():
        return None
    return (stamps[-1] - stamps[0]).total_seconds()


def train_detector(py, family, backbone, work_root, threads, size,
                   epochs, reuse=True):
    config = toy_det_config(family, backbone)
    name = osp.basename(config)[:-3]
    cfg = Config.fromfile(osp.join(ROOT, config))
    options = []
    if epochs:
        # the budget, and the cosine decay over it; mmengine validates
        # after the last epoch
        schedule = shorten_schedule(cfg, epochs)
        options = ['--cfg-options',
                   *(f'{key}={value}' for key, value in schedule.items())]
        cfg.merge_from_dict(schedule)
    work_dir = osp.join(work_root, name)
    log_path = osp.join(ROOT, work_dir, 'run.log')
    seconds = (finished_run(work_dir, cfg.train_cfg.max_epochs)
               if reuse else None)
    # the CPU that trained the run (its seconds are that CPU's), kept in
    # its work dir for a later reuse, maybe on another machine
    cpu_file = osp.join(ROOT, work_dir, 'cpu.txt')
    if seconds is None:
        print(f'{name}: training', flush=True)
        _, seconds = run([py, 'tools/train.py', config, '--work-dir',
                          work_dir, *options], log_path, threads)
        atomic_write(cpu_name().encode(), cpu_file)
    else:
        print(f'{name}: its finished run in {work_dir} is reused',
              flush=True)
    cpu = open(cpu_file).read().strip() if osp.isfile(cpu_file) \
        else 'unknown'
    metrics = final_metrics(work_dir)
    iters = (cfg.train_cfg.max_epochs *
             -(-train_images(cfg) // cfg.train_dataloader.batch_size))
    row = dict(config=config, model=name, family=family, backbone=backbone,
               **budget_of(cfg), iterations=iters,
               train_seconds=round(seconds, 1), threads=threads, cpu=cpu,
               **size,
               bbox_mAP=metrics['coco/bbox_mAP'],
               bbox_mAP_50=metrics['coco/bbox_mAP_50'],
               bbox_mAP_75=metrics['coco/bbox_mAP_75'])
    print(f'{name}: bbox mAP {row["bbox_mAP"]:.3f}, mAP50 '
          f'{row["bbox_mAP_50"]:.3f} ({seconds:.0f} s)', flush=True)
    return row


def load_rows(path):
    """The recorded rows, each with the CPU that trained it (rows of files
    written before the rows carried it get the file's)."""
    if not osp.isfile(path):
        return []
    with open(path) as f:
        data = json.load(f)
    recorded = data.get('cpu')
    for row in data['results']:
        row.setdefault('cpu', recorded if isinstance(recorded, str)
                       else 'unknown')
    return data['results']


def save_rows(path, rows):
    """Write ``rows``; the file's ``cpu`` lists the CPUs its rows were
    trained on (a row's training seconds are its CPU's)."""
    import platform
    cpus = list(dict.fromkeys(r.get('cpu') for r in rows))
    data = dict(mode='toy-det', cpu=cpus[0] if len(cpus) == 1 else cpus,
                cores=os.cpu_count(), python=platform.python_version(),
                results=rows)
    atomic_write((json.dumps(data, indent=2) + '\n').encode(), path)


def main(argv=None):
    args = parse_args(argv)
    if args.plot:
        for path in (args.json, args.latency):
            if not osp.isfile(path):
                raise CLIError(f'--plot needs {path}: no such file')
        with open(args.json) as f:
            table = json.load(f)
        with open(args.latency) as f:
            latency = json.load(f)
        draw_map_latency(table, latency, args.plot)
        print(f'plot: {args.plot}')
        return
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f'--epochs must be >= 1, got {args.epochs}')
    if args.jobs < 1:
        raise CLIError(f'--jobs must be >= 1, got {args.jobs}')
    py = sys.executable
    if args.threads is not None and args.threads < 1:
        raise CLIError(f'--threads must be >= 1, got {args.threads}')
    threads = args.threads or (1 if args.jobs > 1 else 0)
    for task in ('cls', 'det'):
        run([py, 'tools/misc/make_toy_data.py', task],
            osp.join(ROOT, args.work_dir, 'data.log'), 0)
    wanted = [(f, b) for b in args.backbones for f in args.families]
    # --force retrains the selected detectors only: the other rows stay
    rows = load_rows(args.json)
    epochs = args.epochs or 12
    done = set() if args.force else {r['config'] for r in rows
                                     if r['epochs'] == epochs}
    todo = [(f, b) for f, b in wanted if toy_det_config(f, b) not in done]
    # the classifiers the remaining detectors start from
    needed = {}
    for family, backbone in todo:
        cfg = Config.fromfile(osp.join(ROOT, toy_det_config(family,
                                                            backbone)))
        if not osp.isfile(osp.join(ROOT, cfg.pretrained)):
            needed[backbone] = cfg.pretrained
    sizes = {toy_det_config(f, b): complexity(toy_det_config(f, b))
             for f, b in todo}
    log_dir = osp.join(ROOT, args.work_dir)
    with ThreadPoolExecutor(args.jobs) as pool:
        # the classifiers first; a detector waits for its backbone's
        classifiers = {
            b: pool.submit(train_classifier, py, b, ckpt, threads, log_dir)
            for b, ckpt in needed.items()
        }

        def detector(family, backbone):
            if backbone in classifiers:
                classifiers[backbone].result()
            config = toy_det_config(family, backbone)
            return train_detector(py, family, backbone, args.work_dir,
                                  threads, sizes[config], args.epochs,
                                  reuse=not args.force)

        futures = [pool.submit(detector, f, b) for f, b in todo]
        for fut in as_completed(futures):
            row = fut.result()
            rows = [r for r in rows if r['config'] != row['config']]
            rows.append(row)
            order = [toy_det_config(f, b) for b in BACKBONES
                     for f in FAMILIES]
            rows.sort(key=lambda r: order.index(r['config']))
            save_rows(args.json, rows)
    print(f'results: {args.json} ({len(rows)} detectors)')


if __name__ == '__main__':
    run_cli(main)
