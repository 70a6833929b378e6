"""Side-by-side benchmarks of refexec against asyncio, uvloop, trio and the bare coroutine loop.

Run from the repository root: ``python -m benchmarks`` (or ``refexec bench``); ``--help`` lists
the options, ``--quick`` is a run of seconds, ``--full`` the RESULTS.md run.

Layout:

* :mod:`benchmarks.registry`: the runtimes and workloads;
* :mod:`benchmarks.common`: the task bodies every runtime runs, the memory probe, the waking
  thread;
* ``rt_bare``, ``rt_asyncio`` (asyncio and uvloop), ``rt_trio``, ``rt_refexec`` (Executor,
  traced Executor, SimpleExecutor): one module per runtime, one function per workload;
* :mod:`benchmarks.worker`: one measurement in a fresh process, answered as JSON;
* :mod:`benchmarks.runner`: the repetitions, side by side, interleaved;
* :mod:`benchmarks.report`, :mod:`benchmarks.plots`: ratios, targets, Markdown, PNG;
* :mod:`benchmarks.verify`: verification throughput (the checkers, timed).
"""
