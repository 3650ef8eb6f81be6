"""Side-by-side speed benchmarks (``tools/analysis_tools/benchmark.py``).

* :mod:`.timing`: timers, the fp32 matrix-multiply peak, the machine;
* :mod:`.runners`: exported files and runtimes as timed callables;
* :mod:`.classifiers`: classifier latency and throughput, every path;
* :mod:`.training`: training-step throughput against mmpretrain;
* :mod:`.detectors`: detector latency, network alone and end to end;
* :mod:`.profile`: onnxruntime's time per operator.

Nothing here is imported by ``import mmshuffle``; the rendering of recorded
runs is :mod:`mmshuffle.analysis.report`.
"""
