"""Install mmshuffle.

``install_requires`` states the ranges mmshuffle works with (the lower bounds
are the APIs it uses; ``mmshuffle/__init__.py`` checks torch and mmengine at
import), so that mmshuffle installs into an existing (for example CUDA)
OpenMMLab environment without downgrading it. The
exact CPU stack the project is tested on is pinned in ``requirements.txt`` and
installed by ``make test`` / ``make demo``.
"""
import os
import os.path as osp

from setuptools import find_packages, setup


def mim_files():
    """The files under ``mmshuffle/.mim`` (followed through its symlinks),
    relative to the package."""
    pkg = osp.join(osp.dirname(osp.abspath(__file__)), 'mmshuffle')
    files = []
    for dirpath, _, filenames in os.walk(
            osp.join(pkg, '.mim'), followlinks=True):
        files += [
            osp.relpath(osp.join(dirpath, f), pkg) for f in filenames
            if f.endswith(('.py', '.yml', '.md'))
        ]
    return sorted(files)


MIM_FILES = mim_files()


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'mmshuffle', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmshuffle',
    version=read_version(),
    description='ShuffleNet V1/V2 and MobileNet V2 backbones for '
    'the OpenMMLab '
    'ecosystem (mmpretrain classification, mmdet detection).',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    # configs and the model index ship inside the package, in the layout
    # mmengine and openmim look up for `mmshuffle::` paths:
    # mmshuffle/.mim/{configs,model-index.yml} (symlinks to the top-level
    # ones in the source tree, real files in a wheel).
    package_data={'mmshuffle': MIM_FILES},
    install_requires=[
        # torch.export-based ONNX export with ONNXProgram.optimize() and
        # torch.serialization.get_unsafe_globals_in_checkpoint: torch 2.6
        'torch>=2.6',
        'torchvision>=0.21',
        'numpy',
        # AtomicCheckpointHook reproduces 0.10.7's private
        # CheckpointHook._save_checkpoint_with_step
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.1.0,<3.4.0',
        'mmpretrain>=1.0.0,<1.3.0',
    ],
    extras_require={
        'tests': ['pytest>=8', 'ruff>=0.6'],
        'docs': [
            'sphinx>=8', 'myst-parser>=4', 'furo', 'sphinx-copybutton',
            'matplotlib'
        ],
        'tensorboard': ['tensorboard'],
        'onnx': ['onnx>=1.16', 'onnxscript>=0.5', 'onnxruntime>=1.18'],
        'openvino': ['openvino>=2024.0'],
        # ExecuTorch programs with the XNNPACK delegate (and PT2E INT8)
        'executorch': ['executorch>=1.5'],
        # ncnn models, converted by pnnx
        'ncnn': ['ncnn>=1.0.20261020', 'pnnx>=20261020'],
    },
    zip_safe=False,
)
