"""Where onnxruntime spends a call: its profiler's kernel time per
operator type."""
import json
import os
import tempfile
from typing import Dict, List

import numpy as np
import torch

from mmshuffle.deploy.onnx import ClassifierForExport

from .classifiers import build_arch
from .runners import export_once, quantize_once
from .timing import random_inputs


def ort_op_profile(path: str, x, threads: int = 1, runs: int = 5,
                   top: int = 8) -> Dict:
    """Where onnxruntime spends a call of ``path`` on input ``x``: its
    profiler's kernel times summed per operator type over ``runs`` calls
    (after one warm-up call).

    Returns:
        dict: ``total_ms`` (kernel time per call), ``ops``: the ``top``
        operator types by time as ``dict(op, ms, share, nodes)`` (ms per
        call, share of the kernel time, number of nodes), the rest summed
        as ``op='other'``.
    """
    from mmshuffle.deploy.onnx import ort_session
    with tempfile.TemporaryDirectory() as tmp:
        session = ort_session(path, threads, os.path.join(tmp, 'profile'))
        feed = {session.get_inputs()[0].name: np.asarray(x, np.float32)}
        session.run(None, feed)
        for _ in range(runs):
            session.run(None, feed)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    # drop the warm-up call: the first 'model_run' event and what precedes
    starts = [e['ts'] for e in events if e.get('name') == 'model_run']
    after = sorted(starts)[1] if len(starts) > 1 else 0
    per_op, nodes = {}, {}
    for event in events:
        if event.get('cat') != 'Node' or event['ts'] < after or \
                not event.get('name', '').endswith('_kernel_time'):
            continue
        op = event.get('args', {}).get('op_name', '?')
        per_op[op] = per_op.get(op, 0.0) + event['dur'] / 1e3 / runs
        nodes.setdefault(op, set()).add(event['name'])
    total = sum(per_op.values())
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1])
    ops = [dict(op=op, ms=ms, share=ms / total, nodes=len(nodes[op]))
           for op, ms in ranked[:top]]
    rest = ranked[top:]
    if rest:
        ms = sum(v for _, v in rest)
        ops.append(dict(op='other', ms=ms, share=ms / total,
                        nodes=sum(len(nodes[o]) for o, _ in rest)))
    return dict(total_ms=total, runs=runs, threads=threads, ops=ops)


def profile_classifier(arch: str, shape, threads: int = 1,
                       runs: int = 20) -> List[Dict]:
    """:func:`ort_op_profile` of ``arch``'s classifier as the
    ``onnxruntime`` and ``onnxruntime int8`` paths run it (batch 1)."""
    with tempfile.TemporaryDirectory() as tmp, \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fp32 = export_once(ClassifierForExport(build_arch(arch)).eval(),
                            tmp, arch, shape)
        x = random_inputs(shape, 1, seed=1)[0]
        return [dict(ort_op_profile(path, x, threads, runs), arch=arch,
                     path=name)
                for name, path in (('onnxruntime', fp32),
                                   ('onnxruntime int8',
                                    quantize_once(fp32, shape)))]
