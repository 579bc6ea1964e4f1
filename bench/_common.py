"""Shared helpers of the benchmarks: timing, peak memory, the machine's GEMM rate, tables."""

from __future__ import annotations

import os
import platform
import time

import numpy as np


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure(fn, repeat: int = 1):
    """(best wall time in s, peak resident memory above the starting point in MB, result) of fn()."""
    best, peak, result = float("inf"), 0.0, None
    for _ in range(repeat):
        try:  # reset the high-water mark (Linux); otherwise the peak is only an upper bound
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass
        base = _status_kb("VmRSS")
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        peak = max(peak, (_status_kb("VmHWM") - base) / 1024)
    return best, peak, result


def gemm_rate(n: int = 4096, k: int = 2048, dtype=np.float32) -> float:
    """GFLOP/s of one NumPy matmul (n x k) @ (k x n), best of three."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    a @ b
    best = min(measure(lambda: a @ b)[0] for _ in range(3))
    return 2.0 * n * n * k / best / 1e9


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, {platform.python_implementation()} {platform.python_version()}"
    )


def mixture(n: int, d: int, modes: int, spread: float = 0.3, seed: int = 0, dtype=np.float32):
    """Embeddings drawn from `modes` Gaussian modes: a spectrum that decays like real features' do."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((modes, d))
    labels = rng.integers(0, modes, size=n)
    return (centres[labels] + spread * rng.standard_normal((n, d))).astype(dtype)


def table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = " | ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print("| " + line + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")


def fmt(seconds: float) -> str:
    return f"{seconds:.3g} s"


def optional(name: str, pip_name: str):
    """The module, or None after printing why the reference package that needs it is skipped."""
    import importlib  # noqa: PLC0415

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        print(
            f"\n*{pip_name} is skipped: it cannot be imported ({exc}); `pip install {pip_name}` "
            "(or `pip install '.[bench]'`).*"
        )
        return None
