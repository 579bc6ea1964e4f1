"""Threads of the compiled engine: how many it may run (``GENMETRICS_NUM_THREADS``, capped per CPU)."""

from __future__ import annotations

import os

#: The engine never runs more threads than this many per CPU (cpp/parallel.hpp caps alike): beyond it, threads
#: only add stacks, OpenBLAS buffers (of which OpenBLAS has a fixed table) and contention.
MAX_THREADS_PER_CORE = 4


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """Threads for the compiled engine: ``GENMETRICS_NUM_THREADS`` (an integer >= 1) or the CPUs this process may
    use, at most ``MAX_THREADS_PER_CORE`` times the CPUs. A value that is not a positive integer is a ValueError."""
    env = os.environ.get("GENMETRICS_NUM_THREADS")
    cap = MAX_THREADS_PER_CORE * (os.cpu_count() or 1)
    if env is None or not env.strip():
        return min(_cpus(), cap)
    try:
        requested = int(env.strip())
    except ValueError:
        raise ValueError(f"GENMETRICS_NUM_THREADS: expected a positive integer, got {env!r}") from None
    if requested < 1:
        raise ValueError(f"GENMETRICS_NUM_THREADS: expected a positive integer, got {env!r}")
    return min(requested, cap)
