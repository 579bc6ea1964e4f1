"""backend="dask" (genmetrics.distributed) against backend="cpu": the same decisions, floats within 1e-12 relative.

One LocalCluster of 2 worker processes (1 thread each) serves the module; block sizes are set per call with
``genmetrics.distributed.options(block_rows=...)``. Integer lattices make duplicates and exact ties, which only the
global-index rules of the merges decide alike.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed", reason="needs dask[distributed] (the `dask` extra)")

import genmetrics as gm  # noqa: E402
from genmetrics.distributed import Cluster, options  # noqa: E402
from genmetrics.engine import get_backend  # noqa: E402
from genmetrics.engine.kernels import KernelSpec  # noqa: E402
from genmetrics.engine.protocol import BallQuery  # noqa: E402

RTOL = 1e-12


@pytest.fixture(scope="module")
def client():
    cluster = Cluster(n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    yield cluster.client
    cluster.close()


def lattice(seed, n, d, top=3, dtype=np.float32):
    return np.random.default_rng(seed).integers(0, top, (n, d)).astype(dtype)


def same(got, want, what=""):
    """Equal decisions (ints, bools) exactly; floats within RTOL relative (or exactly when either is non-finite)."""
    if dataclasses.is_dataclass(want):
        got, want = (
            got.as_dict() if hasattr(got, "as_dict") else dataclasses.asdict(got),
            (want.as_dict() if hasattr(want, "as_dict") else dataclasses.asdict(want)),
        )
    if isinstance(want, dict):
        assert got.keys() == want.keys(), what
        for key in want:
            if key == "backend":
                continue
            same(got[key], want[key], f"{what}.{key}")
        return
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want), what
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{what}[{i}]")
        return
    if isinstance(want, (str, type(None), bool)):
        assert got == want, what
        return
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape, what
    if w.dtype.kind in "biu" or g.dtype.kind in "biu":
        np.testing.assert_array_equal(g, w, err_msg=what)
    else:
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=0, err_msg=what)


def on_dask(client, block_rows, fn, *args, **kwargs):
    with options(client=client, block_rows=block_rows):
        return fn(*args, backend="dask", **kwargs)


def test_backend_is_listed_and_needs_a_client():
    assert gm.backends()["dask"][0]
    with pytest.raises(ValueError, match="^block_rows"):
        with options(block_rows=0):
            pass
    with pytest.raises(TypeError, match="^block_rows"):
        with options(block_rows=1.5):
            pass


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(2, 24),
    m=st.integers(1, 24),
    d=st.integers(1, 3),
    block_rows=st.sampled_from([1, 2, 3, 5, 7, 64]),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_engine_primitives_equal_cpu(client, n, m, d, block_rows, k, seed):
    # block sizes of 1 row are costly in tasks: keep those sets small
    n, m = min(n, 4 * block_rows), min(m, 4 * block_rows)
    X, Y = lattice(seed, n, d), lattice(seed + 1, m, d)
    cpu, dask = get_backend("cpu"), get_backend("dask")
    with options(client=client, block_rows=block_rows):
        k_self = min(k, n - 1)
        same(dask.knn(dask.points(X)[0], None, k_self), cpu.knn(cpu.points(X)[0], None, k_self), "knn self")
        px, py = dask.points(X, Y)
        cx, cy = cpu.points(X, Y)
        k_cross = min(k, n)
        same(dask.knn(py, px, k_cross), cpu.knn(cy, cx, k_cross), "knn cross")
        radius = np.random.default_rng(seed).integers(0, 3, n).astype(np.float64)
        weight = radius - 1.0
        for inclusive in (False, True):
            a_q = BallQuery(nearest=True, ball_radius=radius, ball_weight=weight)
            b_q = BallQuery(nearest=True, ball_radius=np.full(m, 1.0))
            got = dask.ball_query(py, px, inclusive=inclusive, a_queries=a_q, b_queries=b_q)
            want = cpu.ball_query(cy, cx, inclusive=inclusive, a_queries=a_q, b_queries=b_q)
            same(list(got), list(want), f"ball_query inclusive={inclusive}")
        X64, Y64 = X.astype(np.float64) + 0.5, Y.astype(np.float64) + 0.25
        spec = KernelSpec("rbf", bandwidth=1.5)
        V = np.random.default_rng(seed).standard_normal((n, 2))
        same(dask.gram(spec, X64), cpu.gram(spec, X64), "gram")
        same(dask.gram(spec, X64, Y64), cpu.gram(spec, X64, Y64), "gram XY")
        same(dask.kernel_row_sums(spec, X64, None, 2.0), cpu.kernel_row_sums(spec, X64, None, 2.0), "row sums")
        same(dask.kernel_row_sums(spec, X64, Y64), cpu.kernel_row_sums(spec, X64, Y64), "row sums XY")
        same(dask.kernel_matvec(spec, X64, None, V), cpu.kernel_matvec(spec, X64, None, V), "K V")
        same(dask.kernel_matvec(spec, Y64, X64, V), cpu.kernel_matvec(spec, Y64, X64, V), "K_YX V")
        same(dask.column_gram(X64), cpu.column_gram(X64), "column gram")
        tasks = [(X64, Y64), (Y64, None)]
        same(dask.kernel_sums(spec, tasks), cpu.kernel_sums(spec, tasks), "kernel sums")


def test_public_primitives_equal_cpu(client):
    X, Y = lattice(1, 40, 3), lattice(2, 33, 3)
    for block_rows in (1, 6, 100):
        Xs, Ys = (X[:9], Y[:7]) if block_rows == 1 else (X, Y)
        same(on_dask(client, block_rows, gm.knn, Xs, k=3), gm.knn(Xs, k=3, backend="cpu"), "knn")
        same(on_dask(client, block_rows, gm.knn, Xs, Ys, k=3), gm.knn(Xs, Ys, k=3, backend="cpu"), "knn XY")
        radii = np.linspace(0.5, 2.5, Xs.shape[0])
        got = on_dask(client, block_rows, gm.radius_query, Xs, Ys, radii)
        same(got, gm.radius_query(Xs, Ys, radii, backend="cpu"), "radius_query")


def test_metrics_equal_cpu(client):
    """Every engine metric on uneven blocks (17 rows) of lattice sets with duplicates and ties."""
    real, fake, train = lattice(3, 70, 4, top=4), lattice(4, 55, 4, top=4), lattice(5, 48, 4, top=4)
    real64 = real.astype(np.float64) + np.random.default_rng(0).standard_normal(real.shape) * 0.1
    fake64 = fake.astype(np.float64) + np.random.default_rng(1).standard_normal(fake.shape) * 0.1
    cases = [
        (gm.prdc, (real, fake), dict(k=3)),
        (gm.prdc, (real, fake), dict(k=3, inclusive=True, per_sample=True)),
        (gm.precision_recall, (real, fake), dict(k=3)),
        (gm.alpha_precision, (real, fake), {}),
        (gm.authenticity, (train, fake), {}),
        (gm.rke, (real64,), dict(kernel="rbf", bandwidth=2.0)),
        (gm.vendi, (real64,), dict(method="exact", kernel="rbf", bandwidth=2.0)),
        (gm.vendi, (real64,), dict(method="dual", kernel="cosine")),
        (gm.vendi, (real64,), dict(method="nystrom", kernel="rbf", bandwidth=2.0, rank=20, seed=1)),
        (gm.mmd, (real64, fake64), dict(kernel="rbf", bandwidth=2.0)),
        (gm.kid, (real64, fake64), dict(subset_size=20, subsets=4, seed=0)),
        (gm.fd, (real64, fake64), {}),
        (gm.knn_ood_score, (real64, fake64), dict(k=5)),
    ]
    for fn, args, kwargs in cases:
        want = fn(*args, backend="cpu", **kwargs)
        got = on_dask(client, 17, fn, *args, **kwargs)
        same(_plain(got), _plain(want), f"{fn.__name__}{kwargs}")


def test_evaluate_equals_cpu(client):
    # float64: the Gram family's float32 values are rounded per tile, and blocks tile differently (see the engine)
    real, fake = lattice(6, 60, 5, top=5, dtype=np.float64), lattice(7, 50, 5, top=5, dtype=np.float64)
    want = gm.evaluate(real, fake, backend="cpu")
    got = on_dask(client, 23, gm.evaluate, real, fake)
    assert [e.name for e in got.entries] == [e.name for e in want.entries]
    same(_plain(got.numbers()), _plain(want.numbers()), "evaluate")
    assert got.warnings == want.warnings


def test_accumulator_and_reference_on_dask(client):
    """Issue 16's routes beyond one node: an Accumulator's compute() and a Reference on backend="dask" give the
    cpu engine's report."""
    real, fake = lattice(10, 70, 5, top=5, dtype=np.float64), lattice(11, 64, 5, top=5, dtype=np.float64)
    metrics = ["prdc", "precision_recall", "fd", "kid"]
    want = gm.evaluate(real, fake, metrics=metrics, backend="cpu")
    accumulator = gm.Accumulator(real, metrics=metrics, backend="dask")
    for batch in np.array_split(fake, 5):
        accumulator.update(batch)
    with options(client=client, block_rows=17):
        got = accumulator.compute()
        with_reference = gm.evaluate(gm.Reference.build(real), fake, metrics=metrics, backend="dask")
    same(_plain(got.numbers()), _plain(want.numbers()), "accumulator")
    same(_plain(with_reference.numbers()), _plain(want.numbers()), "reference")


def test_same_result_with_1_2_3_workers_and_chunkings(client):
    real, fake = lattice(8, 45, 3), lattice(9, 40, 3)
    want = gm.prdc(real, fake, k=4, per_sample=True, backend="cpu")
    knn_want = gm.knn(real, fake, k=4, backend="cpu")
    for block_rows in (7, 45, 1000):
        same(on_dask(client, block_rows, gm.prdc, real, fake, k=4, per_sample=True), want, f"blocks {block_rows}")
    for workers in (1, 3):
        with Cluster(n_workers=workers, threads_per_worker=1, memory_limit="1GiB") as other:
            same(on_dask(other, 16, gm.prdc, real, fake, k=4, per_sample=True), want, f"{workers} workers")
            same(on_dask(other, 16, gm.knn, real, fake, k=4), knn_want, f"knn {workers} workers")


def _install_fault(marker):
    """On a worker: the next knn block task whose marker file exists removes it and kills its own process."""
    from genmetrics.distributed import engine  # noqa: PLC0415

    task = engine._knn_task

    def faulty(*args):
        try:
            os.remove(marker)
        except FileNotFoundError:
            return task(*args)
        os._exit(1)

    engine._knn_task = faulty


def test_worker_killed_mid_run_gives_the_same_result(client, tmp_path):
    real, fake = lattice(10, 50, 3), lattice(11, 44, 3)
    want = gm.prdc(real, fake, k=3, per_sample=True, backend="cpu")
    marker = tmp_path / "kill-once"
    marker.write_text("")
    client.run(_install_fault, str(marker))
    got = on_dask(client, 10, gm.prdc, real, fake, k=3, per_sample=True)
    assert not marker.exists(), "no worker was killed: the test would not test the retry"
    same(got, want, "prdc after a lost worker")
    client.wait_for_workers(2, timeout=60)


def _plain(value):
    """Results as nested dicts/lists of plain values."""
    if dataclasses.is_dataclass(value):
        return _plain(value.as_dict() if hasattr(value, "as_dict") else dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "backend"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return np.asarray(value)
    return value


def test_cli_local_workers_gives_the_cpu_report(tmp_path, capsys):
    from genmetrics.cli import main  # noqa: PLC0415

    real, fake = tmp_path / "real.npy", tmp_path / "fake.npy"
    np.save(real, lattice(12, 40, 3))
    np.save(fake, lattice(13, 30, 3))

    def values(*extra):
        assert main(["evaluate", str(real), str(fake), "--quiet", "--metrics", "prdc", *extra]) == 0
        lines = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| fidelity")]
        return [(cells[2], cells[3]) for cells in lines]

    assert values("--local-workers", "1") == values("--backend", "cpu")
    assert main(["evaluate", str(real), str(fake), "--local-workers", "1", "--backend", "numpy"]) == 2
    assert capsys.readouterr().err.startswith("genmetrics: error: --backend")
