"""Training-step throughput of the mmshuffle classifiers against
mmpretrain's, on the same batches."""
import statistics
import time
from typing import Callable, Dict, List, Sequence

import torch

from mmshuffle.models.classifier import build_classifier, head_channels

from .classifiers import ARCHS, TRAIN_ARCHS


def bench_training(archs: Sequence[str] = tuple(ARCHS),
                   batch: int = 32,
                   shape=(224, 224),
                   steps: int = 10,
                   warmup: int = 2,
                   log: Callable = print) -> List[Dict]:
    """Training-step throughput (forward, loss, backward, SGD step) of the
    mmshuffle classifier and mmpretrain's, alternating them step by step so
    that both see the same machine state.

    Returns:
        list[dict]: ``arch``, ``impl`` (mmshuffle, mmshuffle with
        ``channels_last=True`` backbones, mmpretrain), ``images_per_s``
        (batch over the median step time), ``ratio`` (over mmpretrain).
    """
    from mmpretrain.structures import DataSample
    rows = []
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, *shape, generator=gen)
    labels = torch.randint(0, 1000, (batch, ), generator=gen)
    samples = [DataSample().set_gt_label(int(lb)) for lb in labels]
    for arch in archs:
        _, ours_cfg, theirs_cfg = ARCHS[arch]
        if theirs_cfg is None:
            raise ValueError(f'arch {arch!r} has no mmpretrain model to '
                             'train against; choose from '
                             f'{sorted(TRAIN_ARCHS)}')
        ours = build_classifier(ours_cfg)
        models = {
            'mmshuffle': ours,
            'mmshuffle channels_last': build_classifier(
                dict(ours_cfg, channels_last=True)),
            'mmpretrain': build_classifier(theirs_cfg, head_channels(ours)),
        }
        for model in models.values():
            model.train()
        optims = {
            name: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
            for name, m in models.items()
        }
        times = {name: [] for name in models}
        for step in range(warmup + steps):
            for name, model in models.items():
                start = time.perf_counter()
                losses = model(images, samples, mode='loss')
                loss = sum(v for v in losses.values())
                optims[name].zero_grad()
                loss.backward()
                optims[name].step()
                if step >= warmup:
                    times[name].append(time.perf_counter() - start)
        speed = {
            name: batch / statistics.median(ts)
            for name, ts in times.items()
        }
        for name in models:
            row = dict(arch=arch, impl=name, batch=batch,
                       images_per_s=speed[name],
                       ratio=speed[name] / speed['mmpretrain'])
            rows.append(row)
            log(f'{arch:<20} train {name:<24} {speed[name]:>7.1f} img/s '
                f'x{row["ratio"]:.2f}')
    return rows
