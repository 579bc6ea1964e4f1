"""The process never dies: every k-NN-based function on near-max and denormal inputs, Ctrl-C during long
compiled calls, thread creation that fails half-way, and address-space limits. Each case runs in a child
process, so that a segfault or abort is a failed assertion here rather than the end of the test session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import genmetrics as gm
from genmetrics import engine as _backend

needs_core = pytest.mark.skipif(_backend._CORE is None, reason="the compiled engine is not built")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process limits of Linux")


def _child_env(**extra):
    env = dict(os.environ)
    package_root = str(Path(gm.__file__).resolve().parents[1])  # run the genmetrics under test, wherever it lives
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _run_child(code: str, timeout: float = 120, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_child_env(**env),
    )


# Each call prints its name before it starts: when the child dies, the last name says which call killed it.
EXTREME_CALLS = """
import sys, warnings
import numpy as np
import genmetrics as gm
from genmetrics.compat.prdc import compute_prdc
warnings.simplefilter("error", RuntimeWarning)  # a RuntimeWarning leaking out of a rejected call counts as a failure
X = np.array(VALUES, dtype=DTYPE).reshape(-1, 1) * np.ones((1, 3), dtype=DTYPE)
Y = X[::-1].copy()
calls = {
    "knn": lambda: gm.knn(X, k=1, backend=BACKEND),
    "knn_xy": lambda: gm.knn(X, Y, k=2, backend=BACKEND),
    "radius_query": lambda: gm.radius_query(X, Y, np.ones(len(X)), backend=BACKEND),
    "prdc": lambda: gm.prdc(X, Y, k=2, backend=BACKEND),
    "precision_recall": lambda: gm.precision_recall(X, Y, k=2, backend=BACKEND),
    "authenticity": lambda: gm.authenticity(X, Y, backend=BACKEND),
    "alpha_precision": lambda: gm.alpha_precision(X, Y, backend=BACKEND),
    "knn_ood_score": lambda: gm.knn_ood_score(X, Y, k=2, backend=BACKEND),
    "compat.prdc": lambda: compute_prdc(X, Y, nearest_k=2),
    "evaluate": lambda: gm.evaluate(X, Y, metrics=["prdc", "precision_recall", "alpha_precision"], k=2,
                                    backend=BACKEND),
}
for name, call in calls.items():
    print("calling", name, flush=True)
    try:
        call()
        print("returned", name, flush=True)
    except (ValueError, TypeError) as exc:
        print("refused", name, type(exc).__name__, str(exc).splitlines()[0], flush=True)
print("all done", flush=True)
"""

EXTREMES = {
    "float64 near max": ([1e308, 1e308, -1e308, 1.7e308, 5e307, 0.0], "float64"),
    "float64 near 1e200": ([1e200, 2e200, -1e200, 3e199, 1e199, 0.0], "float64"),
    "float64 denormal": ([5e-324, 1e-310, 2e-310, 0.0, 4e-320, 1e-315], "float64"),
    "float64 denormal and normal": ([5e-324, 1e-310, 1.0, 0.0, 2.0, 1e-315], "float64"),
    "float32 near max": ([3e38, 3.4e38, -3.4e38, 1e38, 2e38, 0.0], "float32"),
    "float32 denormal": ([1e-45, 1e-40, 3e-39, 0.0, 2e-45, 1e-38], "float32"),
}


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("case", list(EXTREMES))
def test_knn_family_survives_extreme_magnitudes(case, backend):
    if backend == "cpu" and _backend._CORE is None:
        pytest.skip("the compiled engine is not built")
    values, dtype = EXTREMES[case]
    code = EXTREME_CALLS.replace("VALUES", repr(values)).replace("DTYPE", repr(dtype)).replace("BACKEND", repr(backend))
    result = _run_child(code)
    last = [line for line in result.stdout.splitlines() if line.startswith("calling")][-1:]
    assert result.returncode == 0, f"{case}: the child died ({result.returncode}) in {last}: {result.stderr[-2000:]}"
    assert "all done" in result.stdout, result.stdout + result.stderr
    for line in result.stdout.splitlines():
        if line.startswith("refused"):  # a named argument, never an anonymous error
            message = line.split(" ", 3)[3]
            assert message.split(":")[0] in (
                "X",
                "Y",
                "real",
                "fake",
                "train",
                "real_features",
                "fake_features",
                "memory_bank",
                "queries",
            ), line


def test_engine_entry_points_refuse_non_finite_tiles():
    """The engines themselves refuse NaN/inf tiles (a misuse of the private layer must not read out of bounds or
    return another row's neighbours): the public functions never hand them such tiles."""
    from genmetrics.engine import decisions
    from genmetrics.engine.points import Points

    tile = np.array([[np.nan, 0.0], [1.0, 0.0], [2.0, 0.0]])
    points = Points(tile, np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        decisions.knn(points, None, 1)  # the decisions of the numpy, cupy and cuda engines
    with pytest.raises(ValueError, match="non-finite"):
        decisions.ball_query(points, points, False, a_nearest=True)
    core = _backend._CORE
    if core is None:
        pytest.skip("the compiled engine is not built")
    with pytest.raises(ValueError, match="non-finite"):
        core.knn(tile, tile, None, None, 1.0, 1, 1)
    with pytest.raises(ValueError, match="non-finite"):
        core.ball_query(tile, tile, tile, tile, 1.0, False, None, True, None, None, False, 1)


def test_huge_values_are_a_named_error_on_every_backend():
    X = np.array([[1e200, 0.0], [1e200, 1e199], [0.0, 1e200]])
    for backend in ["cpu", "numpy"]:
        with pytest.raises(ValueError, match=r"^X: values up to 1e\+200 are too large"):
            gm.knn(X, k=1, backend=backend)
        with pytest.raises(ValueError, match=r"^fake: values up to"):
            gm.prdc(X / 1e190, X, k=1, backend=backend)
    # just inside the limit the distances are right (no inf): the float64 formula holds there
    limit = 0.5 * np.sqrt(np.finfo(np.float64).max / 2) * 0.99
    Z = np.array([[limit, 0.0], [0.0, -limit], [limit, limit]])
    for backend in ["cpu", "numpy"]:
        distances, _ = gm.knn(Z, k=1, backend=backend)
        assert np.all(np.isfinite(distances))
        np.testing.assert_allclose(distances[:, 0], [limit, np.sqrt(2) * limit, limit], rtol=1e-15)


INTERRUPTIBLE = """
import sys, time
import numpy as np
import genmetrics as gm
X = np.random.default_rng(0).standard_normal((60000, 64)).astype(np.float32)
print("ready", flush=True)
started = time.monotonic()
try:
    CALL
    print("finished", time.monotonic() - started, flush=True)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
    print("usable", float(gm.rke(X[:200], bandwidth=1.0)), flush=True)
"""


@needs_core
@linux_only
@pytest.mark.parametrize("call", ["gm.rke(X, bandwidth=5.0)", "gm.knn(X, k=5)"])
def test_ctrl_c_stops_a_long_compiled_call(call):
    """SIGINT during a call that takes several seconds: KeyboardInterrupt within about a second, and the engine
    works afterwards. (rke at 60,000 x 64 takes ~5 s on two cores; knn longer.)"""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPTIBLE.replace("CALL", call))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    lines = out.splitlines()
    if lines and lines[0].startswith("finished"):
        pytest.skip("the call finished before the signal (a fast machine): nothing to interrupt")
    assert lines and lines[0].startswith("interrupted"), out + err
    assert float(lines[0].split()[1]) - sent < 2.0, "the interrupt took more than 2 s to stop the work"
    assert lines[1].startswith("usable"), out + err


@needs_core
@linux_only
@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="RLIMIT_NPROC binds only a non-root user: the child drops to one from root",
)
def test_thread_creation_failing_half_way_runs_on_the_threads_it_got():
    """A process limit that lets the engine start 2 of its 8 threads: the work finishes on those (it used to be
    std::terminate)."""
    code = """
    import os, resource
    import numpy as np
    import genmetrics as gm
    X = np.random.default_rng(0).standard_normal((3000, 16)).astype(np.float32)
    want = gm.knn(X, k=3)
    os.setgid(65534); os.setuid(65534)  # nobody: RLIMIT_NPROC counts this user's threads
    threads = len(os.listdir("/proc/self/task"))
    resource.setrlimit(resource.RLIMIT_NPROC, (threads + 2, threads + 2))
    got = gm.knn(X, k=3)
    assert (got[1] == want[1]).all() and (got[0] == want[0]).all()
    print("ok", flush=True)
    """
    result = _run_child(code, GENMETRICS_NUM_THREADS="8")
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


@needs_core
@linux_only
@pytest.mark.parametrize("headroom_mb", [2, 8, 20, 64])
@pytest.mark.parametrize("call", ["gm.rke(X, bandwidth=3.0)", "gm.knn(X, k=3)"])
def test_address_space_limit_is_a_memory_error_or_a_result(call, headroom_mb):
    """Under ulimit -v with little room left, 8 requested threads: a result or a MemoryError, never an abort
    (glibc's thread-local data) or OpenBLAS's exit(1)."""
    code = f"""
    import re, resource
    import numpy as np
    import genmetrics as gm
    X = np.random.default_rng(0).standard_normal((3000, 32)).astype(np.float32)
    size = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
    limit = size + {headroom_mb} * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        {call}
        print("result", flush=True)
    except MemoryError as exc:
        print("MemoryError", exc, flush=True)
    """
    result = _run_child(code, GENMETRICS_NUM_THREADS="8")
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout} {result.stderr[-2000:]}"
    assert result.stdout.startswith(("result", "MemoryError")), result.stdout + result.stderr


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-3", "99999999999999"])
def test_bad_thread_setting_is_a_named_error_or_capped(monkeypatch, value):
    monkeypatch.setenv("GENMETRICS_NUM_THREADS", value)
    if value == "99999999999999":  # a request, capped at MAX_THREADS_PER_CORE per CPU (no pybind11 overflow)
        assert _backend.num_threads() == _backend.MAX_THREADS_PER_CORE * (os.cpu_count() or 1)
        if _backend._CORE is not None:
            gm.knn(np.random.default_rng(0).standard_normal((50, 3)), k=2, backend="cpu")
        return
    with pytest.raises(ValueError, match="^GENMETRICS_NUM_THREADS: expected a positive integer"):
        _backend.num_threads()
