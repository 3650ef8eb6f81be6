"""Parameters, FLOPs (multiply-adds) and memory access cost of the model of
a config.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H [W]]
        [--deploy] [--json]

Counts the convolution and fully-connected multiply-adds on a real forward
pass (mmengine's FlopAnalyzer) and the memory access cost (MAC: elements
read and written by every operator, weights included), per backbone stage
and in total. ``--deploy`` measures the deploy form (BatchNorm folded).
"""
import argparse
import json

from mmengine.config import Config

import mmshuffle  # noqa: F401
from mmshuffle.analysis import model_complexity
from mmshuffle.deploy import switch_to_deploy
from mmshuffle.engine.configs import build_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[224],
        help='input size: H [W] (default 224)')
    parser.add_argument('--deploy', action='store_true',
                        help='measure the deploy form (BatchNorm folded)')
    parser.add_argument('--json', action='store_true',
                        help='print one JSON object instead of a table')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if len(args.shape) not in (1, 2):
        raise SystemExit('error: --shape takes H or H W')
    shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape)
    cfg = Config.fromfile(args.config)
    model = build_model(cfg)
    if args.deploy:
        switch_to_deploy(model)
    info = model_complexity(model, shape)
    if args.json:
        print(json.dumps(dict(config=args.config, shape=shape, **info)))
        return
    form = ', deploy form' if args.deploy else ''
    print(f'{args.config}  input 1x3x{shape[0]}x{shape[1]}{form}')
    print(f'{"part":<24}{"params":>14}{"MFLOPs":>12}{"MAC (M)":>12}')
    for row in info['rows'] + [dict(info, name='total')]:
        print(f'{row["name"]:<24}{row["params"]:>14,}'
              f'{row["flops"] / 1e6:>12.2f}{row["mac"] / 1e6:>12.2f}')
    print('MAC: elements read + written per operator (x4 bytes in fp32)')


if __name__ == '__main__':
    main()
