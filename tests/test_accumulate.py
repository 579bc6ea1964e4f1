"""gm.Accumulator (issue 16, part 2): streaming accumulation for evaluation loops.

compute() is evaluate() on the concatenation of the batches (bit for bit when rows are stored; to round-off with
streamed moments), whatever the batch sizes, the array library, a merge, a state_dict round trip, a spill to disk
or a torch.distributed all-gather.
"""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest

import genmetrics as gm
import genmetrics.accumulate as accumulate

RNG = np.random.default_rng(2026)
REAL = RNG.normal(size=(80, 12)).astype(np.float32)
FAKE = (RNG.normal(size=(95, 12)) * 1.2 + 0.3).astype(np.float32)
TRAIN = RNG.normal(size=(70, 12)).astype(np.float32)


def _table(report):
    """A report without its timings: everything else must be identical."""
    out = report.to_dict()
    for entry in out["metrics"].values():
        entry.pop("seconds")
    return out


def _uneven(X, seed=0, pieces=9):
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, X.shape[0]), pieces - 1, replace=False))
    return np.split(X, cuts)


def _accumulated(batches, **options):
    acc = gm.Accumulator(REAL, TRAIN, **options)
    for batch in batches:
        acc.update(batch)
    return acc


@pytest.fixture(scope="module")
def expected_all():
    return _table(gm.evaluate(REAL, FAKE, TRAIN))


@pytest.mark.parametrize("batching", ["whole", "ones", "uneven"])
def test_compute_is_evaluate_on_the_concatenation(batching, expected_all):
    batches = {"whole": [FAKE], "ones": list(FAKE), "uneven": _uneven(FAKE)}[batching]
    if batching == "ones":
        batches = [row[None, :] for row in batches]
    acc = _accumulated(batches)
    assert len(acc) == FAKE.shape[0]
    np.testing.assert_array_equal(acc.rows(), FAKE)
    assert _table(acc.compute()) == expected_all


def test_options_reach_evaluate():
    options = dict(metrics=["prdc", "kid", "vendi", "gaussian_kl"], k=3, kernel="rbf", seed=7, ridge=0.5)
    acc = _accumulated(_uneven(FAKE, seed=1), **options)
    assert _table(acc.compute()) == _table(gm.evaluate(REAL, FAKE, TRAIN, **options))


def test_reference_and_train_at_compute():
    acc = gm.Accumulator(metrics=["prdc", "authenticity"])
    for batch in _uneven(FAKE):
        acc.update(batch)
    with pytest.raises(ValueError, match="^reference: "):
        acc.compute()
    expected = gm.evaluate(REAL, FAKE, TRAIN, metrics=["prdc", "authenticity"])
    assert _table(acc.compute(REAL, TRAIN)) == _table(expected)


def test_a_reference_object_goes_to_evaluate_unchanged(monkeypatch):
    """A gm.Reference (anything with the real rows at .real) is evaluate's first argument as is."""

    class Ref:
        real = REAL

    seen = []
    monkeypatch.setattr(accumulate, "evaluate", lambda real, fake, train, **kw: seen.append(real) or "report")
    ref = Ref()
    acc = gm.Accumulator(ref, metrics="prdc")
    with pytest.raises(ValueError, match="^fake_batch: has 5 features but reference has 12"):
        acc.update(FAKE[:, :5])
    acc.update(FAKE)
    assert acc.compute() == "report" and seen[0] is ref
    streamed = gm.Accumulator(ref, metrics="fd")  # moments: the real rows are read from .real
    streamed.update(FAKE)
    assert streamed.compute()["fd"] == pytest.approx(float(gm.fd(REAL, FAKE)), rel=1e-12)


def test_torch_batches():
    torch = pytest.importorskip("torch")
    batches = [torch.from_numpy(b) for b in _uneven(FAKE)]
    batches[0] = batches[0].clone().requires_grad_()
    acc = _accumulated(batches, metrics=["prdc", "fd"])
    assert _table(acc.compute()) == _table(gm.evaluate(REAL, FAKE, TRAIN, metrics=["prdc", "fd"]))
    for dtype in (torch.float16, torch.bfloat16):  # upcast to float32, exactly
        low = [torch.from_numpy(b).to(dtype) for b in _uneven(FAKE)]
        acc = _accumulated(low, metrics="prdc")
        concatenated = torch.cat(low).float().numpy()
        assert acc.rows().dtype == np.float32
        np.testing.assert_array_equal(acc.rows(), concatenated)
        assert _table(acc.compute()) == _table(gm.evaluate(REAL, concatenated, TRAIN, metrics="prdc"))
    with pytest.raises(ValueError, match="^fake_batch: dtype float64 is stored as float64, but earlier"):
        acc.update(torch.zeros(2, 12, dtype=torch.float64))


def test_cupy_batches(fake_gpu):
    acc = _accumulated([fake_gpu.cupy.asarray(b) for b in _uneven(FAKE)], metrics="prdc")
    assert type(acc.rows()) is np.ndarray
    assert _table(acc.compute()) == _table(gm.evaluate(REAL, FAKE, TRAIN, metrics="prdc"))


def test_float16_and_integer_batches_are_stored_as_evaluate_converts_them():
    acc = gm.Accumulator(REAL, metrics="prdc")
    acc.update(FAKE[:40].astype(np.float16))
    acc.update(FAKE[40:])  # float16 and float32: one family (stored float32)
    assert acc.dtype == np.float32
    ints = gm.Accumulator(REAL, metrics="prdc")
    ints.update(np.arange(24).reshape(2, 12))
    ints.update(np.ones((3, 12)))  # integers and float64: stored float64
    assert ints.dtype == np.float64
    with pytest.raises(ValueError, match="^fake_batch: dtype float32 is stored as float32, but earlier batches"):
        ints.update(FAKE[:2])


def test_width_and_input_errors_name_the_argument():
    acc = gm.Accumulator(metrics="prdc")
    acc.update(FAKE[:3])
    with pytest.raises(ValueError, match="^fake_batch: has 11 features but earlier batches have 12"):
        acc.update(FAKE[:3, :11])
    with pytest.raises(ValueError, match="^fake_batch: contains NaN"):
        acc.update(np.full((2, 12), np.nan))
    with pytest.raises(ValueError, match="^fake_batch: expected a 2-D array"):
        acc.update(FAKE[0])
    assert len(acc) == 3  # nothing appended by a refused batch
    with pytest.raises(ValueError, match="^fake: has 12 features but real has 5"):
        _fd_only_mismatch()
    with pytest.raises(ValueError, match="^fake: no rows accumulated"):
        gm.Accumulator(REAL).compute()
    with pytest.raises(ValueError, match="^keep_rows: False, but prdc need the rows"):
        gm.Accumulator(metrics=["prdc", "fd"], keep_rows=False)
    with pytest.raises(ValueError, match="^max_memory: "):
        gm.Accumulator(max_memory=-1)
    with pytest.raises(ValueError, match="^spill_dir: "):
        gm.Accumulator(spill_dir="/nonexistent/dir")
    with pytest.raises(ValueError, match="^metrics: "):
        gm.Accumulator(metrics="fid")
    with pytest.raises(ValueError, match="^backend: "):
        gm.Accumulator(backend="tpu")


def _fd_only_mismatch():
    acc = gm.Accumulator(metrics="fd")
    acc.update(FAKE)
    acc.compute(REAL[:, :5])


# -- merge and state_dict --------------------------------------------------------------------------------------


def test_merge_is_the_update_of_both():
    options = dict(metrics="all")
    first, second = _uneven(FAKE[:50], seed=2, pieces=4), _uneven(FAKE[50:], seed=3, pieces=5)
    a, b = _accumulated(first, **options), _accumulated(second, **options)
    merged = a.merge(b)
    assert merged is a and len(b) == 45  # other unchanged
    assert _table(merged.compute()) == _table(_accumulated(first + second, **options).compute())
    with pytest.raises(ValueError, match="^other: accumulated with other settings \\(k=3 there, 5 here\\)"):
        a.merge(gm.Accumulator(REAL, metrics="all", k=3))
    with pytest.raises(TypeError, match="^other: "):
        a.merge(FAKE)


def test_what_the_order_of_the_rows_changes():
    """merge(a, b) and merge(b, a) hold the same rows in another order: counts are equal, sums equal to round-off,
    and the seeded draws by index (KID subsets, the equal-size subsample of diversity) differ."""
    fake = np.random.default_rng(5).normal(size=(130, 12)).astype(np.float32)  # more rows than the real set
    names = ["prdc", "precision_recall", "authenticity", "fd", "cmmd", "knn_kl", "kid", "vendi"]
    a, b = _accumulated([fake[:60]], metrics=names), _accumulated([fake[60:]], metrics=names)
    a2, b2 = _accumulated([fake[:60]], metrics=names), _accumulated([fake[60:]], metrics=names)
    ab, ba = a.merge(b).compute(), b2.merge(a2).compute()
    for name in ("prdc", "precision_recall", "authenticity"):
        assert ab[name] == ba[name], name
    for name in ("fd", "cmmd"):
        assert ab[name] == pytest.approx(ba[name], rel=1e-12, abs=1e-12), name
    for key in ("real_fake", "fake_real"):
        assert ab["knn_kl"][key] == pytest.approx(ba["knn_kl"][key], rel=1e-12)
    assert ab["kid"]["mean"] != ba["kid"]["mean"]  # subsets of 80 drawn by index from 130 rows
    assert ab["vendi"]["fake"] != ba["vendi"]["fake"]  # 80 of 130 rows drawn by index


def test_state_dict_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    acc = _accumulated(_uneven(FAKE), metrics=["prdc", "fd"])
    state = acc.state_dict()
    assert set(state) >= {"format", "version", "settings", "width", "dtype", "n", "rows"}
    torch.save(state, tmp_path / "acc.pt")
    loaded = torch.load(tmp_path / "acc.pt", weights_only=False)
    restored = gm.Accumulator(REAL, TRAIN, metrics=["prdc", "fd"])
    restored.load_state_dict(loaded)
    assert _table(restored.compute()) == _table(acc.compute())
    restored.update(FAKE[:4])  # and it goes on accumulating
    assert len(restored) == FAKE.shape[0] + 4
    with pytest.raises(ValueError, match="^state_dict: accumulated with other settings \\(metrics="):
        gm.Accumulator(REAL, metrics="prdc").load_state_dict(state)
    with pytest.raises(ValueError, match="^state_dict: accumulated with other settings \\(seed=0 there, 1 here\\)"):
        gm.Accumulator(REAL, metrics=["prdc", "fd"], seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="^state_dict: its rows have 12 features but reference has 5"):
        gm.Accumulator(REAL[:, :5], metrics=["prdc", "fd"]).load_state_dict(state)
    with pytest.raises(ValueError, match="^state_dict: not an Accumulator state"):
        restored.load_state_dict({"rows": FAKE})
    empty = gm.Accumulator(REAL, metrics=["prdc", "fd"])
    empty.load_state_dict(gm.Accumulator(metrics=["prdc", "fd"]).state_dict())
    assert len(empty) == 0


def test_reset():
    acc = gm.Accumulator(metrics="prdc")
    acc.update(FAKE)
    acc.reset()
    assert len(acc) == 0 and acc.width is None
    acc.update(FAKE[:, :7])  # a new width after a reset is fine without a reference
    assert acc.width == 7


# -- spilling to a memory-mapped file ---------------------------------------------------------------------------


def test_spill_past_max_memory_gives_identical_numbers(tmp_path):
    fake = np.random.default_rng(6).normal(size=(12_000, 32)).astype(np.float32)  # 1.5 MB
    acc = gm.Accumulator(fake[:500] * 0.9, metrics=["prdc", "fd"], max_memory=2**20, spill_dir=tmp_path)
    for batch in _uneven(fake, seed=7, pieces=40):
        acc.update(batch)
    path = acc.spill_path
    assert path is not None and os.path.dirname(path) == str(tmp_path)
    assert os.path.getsize(path) >= fake.nbytes > 2**20
    np.testing.assert_array_equal(acc.rows(), fake)
    assert _table(acc.compute()) == _table(gm.evaluate(fake[:500] * 0.9, fake, metrics=["prdc", "fd"]))
    in_memory = gm.Accumulator(fake[:10], metrics="prdc", max_memory=2**20)
    in_memory.update(fake[:100])
    assert in_memory.spill_path is None
    acc.reset()
    assert not os.path.exists(path)
    again = gm.Accumulator(metrics="prdc", max_memory=0, spill_dir=tmp_path)
    again.update(fake[:3])
    path = again.spill_path
    assert os.path.exists(path)
    del again
    gc.collect()
    assert not os.path.exists(path)  # removed when garbage-collected


def test_a_deleted_spill_file_is_an_error_not_a_partial_result(tmp_path):
    acc = gm.Accumulator(REAL, metrics="prdc", max_memory=1024, spill_dir=tmp_path)
    acc.update(FAKE)
    os.remove(acc.spill_path)
    with pytest.raises(
        FileNotFoundError, match="^spill_dir: the spill file .* holding 95 accumulated rows was deleted"
    ):
        acc.compute()
    with pytest.raises(FileNotFoundError, match="^spill_dir: "):
        acc.update(FAKE[:2])
    with pytest.raises(FileNotFoundError, match="^spill_dir: "):
        acc.state_dict()
    acc.reset()  # then it works again
    acc.update(FAKE)
    assert _table(acc.compute()) == _table(gm.evaluate(REAL, FAKE, metrics="prdc"))
    with open(acc.spill_path, "r+b") as fh:  # truncated behind its back
        fh.truncate(100)
    with pytest.raises(FileNotFoundError, match="^spill_dir: the spill file .* was truncated"):
        acc.compute()


# -- streamed moments ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "offset", "chunk_bytes"), [(12, 0.3, None), (24, 50.0, 8192), (40, 1e4, 40_000)])
def test_streamed_moments_agree_with_fd_and_gaussian_kl(monkeypatch, d, offset, chunk_bytes):
    """FD and KL from streamed float64 moments (no rows stored) against gm.fd / gm.gaussian_kl on the concatenation,
    across chunk boundaries (small chunks) and means far from 0 (cancellation): measured <= 1e-15 relative here;
    checked to 1e-12."""
    if chunk_bytes:
        monkeypatch.setattr(accumulate, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(d)
    real = (rng.normal(size=(3000, d)) + offset).astype(np.float32)
    fake = (rng.normal(size=(2500, d)) * 1.1 + offset + 0.2).astype(np.float32)
    acc = gm.Accumulator(real, metrics=["fd", "gaussian_kl"])
    for batch in _uneven(fake, seed=d, pieces=23):
        acc.update(batch)
    assert acc.rows() is None  # rows not yet folded into a chunk are kept (< 64 MiB of float64), no more
    assert acc.state_dict()["rows"].shape[0] < (2500 if chunk_bytes else 2501)
    report = acc.compute()
    assert report["fd"] == pytest.approx(float(gm.fd(real, fake)), rel=1e-12)
    assert report["gaussian_kl"] == pytest.approx(float(gm.gaussian_kl(real, fake)), rel=1e-12)
    exact = _table(gm.evaluate(real, fake, metrics=["fd", "gaussian_kl"]))
    streamed = _table(report)
    for table in (exact, streamed):
        for entry in table["metrics"].values():
            entry.pop("value")
    assert streamed == exact  # the same entries, parameters, info and notes


def test_streamed_moments_with_fewer_rows_than_features():
    """Singular covariances (n, m <= d): frechet_from_statistics' factor route against fd's QR route."""
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(30, 40)), rng.normal(size=(25, 40)) + 0.2
    acc = gm.Accumulator(real, metrics="fd")
    for batch in _uneven(fake, pieces=4):
        acc.update(batch)
    assert acc.compute()["fd"] == pytest.approx(float(gm.fd(real, fake)), rel=1e-12)


def test_streamed_moments_do_not_depend_on_the_batching(monkeypatch):
    monkeypatch.setattr(accumulate, "CHUNK_BYTES", 12 * 8 * 16)  # chunks of 16 rows
    one = gm.Accumulator(REAL, metrics="fd")
    one.update(FAKE)
    rows = gm.Accumulator(REAL, metrics="fd")
    for row in FAKE:
        rows.update(row[None, :])
    uneven = gm.Accumulator(REAL, metrics="fd")
    for batch in _uneven(FAKE, seed=4):
        uneven.update(batch)
    for acc in (rows, uneven):
        assert acc.compute()["fd"] == one.compute()["fd"]  # bit for bit
    a, b = gm.Accumulator(REAL, metrics="fd"), gm.Accumulator(REAL, metrics="fd")
    a.update(FAKE[:37])
    b.update(FAKE[37:])
    assert a.merge(b).compute()["fd"] == pytest.approx(one.compute()["fd"], rel=1e-13)
    restored = gm.Accumulator(REAL, metrics="fd")
    restored.load_state_dict(one.state_dict())
    assert restored.compute()["fd"] == one.compute()["fd"]
    kept = gm.Accumulator(REAL, metrics="fd", keep_rows=True)  # rows kept: evaluate itself, bit for bit
    kept.update(FAKE)
    assert kept.compute()["fd"] == gm.fd(REAL, FAKE)


def test_streamed_moments_skip_as_evaluate_does():
    acc = gm.Accumulator(REAL, metrics=["fd", "gaussian_kl"])
    acc.update(FAKE[:10])  # 10 rows for 12 features: a singular covariance
    report = acc.compute()
    expected = gm.evaluate(REAL, FAKE[:10], metrics=["fd", "gaussian_kl"])
    assert [e.name for e in report.entries] == [e.name for e in expected.entries] == ["fd"]
    assert report.warnings == expected.warnings
    assert report.warnings[0].startswith("gaussian_kl skipped: fake: it has 10 samples for 12 features")
    constant = gm.Accumulator(REAL, metrics="gaussian_kl")
    constant.update(np.hstack([FAKE[:, :11], np.ones((95, 1), np.float32)]))
    assert constant.compute().warnings[0].startswith("gaussian_kl skipped: fake: its covariance is singular")
    few = gm.Accumulator(REAL[:4], metrics="fd")
    few.update(FAKE)
    assert few.compute().warnings == gm.evaluate(REAL[:4], FAKE, metrics="fd").warnings  # the k-NN note
    one = gm.Accumulator(REAL, metrics="fd")
    one.update(FAKE[:1])
    assert one.compute().warnings[-1] == "fd skipped: fake: needs at least 2 rows for a covariance, got 1"
    ridge = gm.Accumulator(REAL, metrics="gaussian_kl", ridge=0.1)
    ridge.update(FAKE[:10])
    assert ridge.compute()["gaussian_kl"] == pytest.approx(float(gm.gaussian_kl(REAL, FAKE[:10], ridge=0.1)), rel=1e-10)


# -- torch.distributed ----------------------------------------------------------------------------------------


SIZES = (7, 12)  # rows of rank 0 and rank 1


def _rows_of(rank):
    return np.random.default_rng(rank).normal(size=(SIZES[rank], 12)).astype(np.float32)


def _gather_worker(rank, world, init, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        kept = gm.Accumulator(metrics=["prdc", "fd"], max_memory=256 if rank else None)  # rank 1 spills
        streamed = gm.Accumulator(metrics="fd")
        only_rank0 = gm.Accumulator(metrics="prdc")  # rank 1 has no rows
        kept.update(_rows_of(rank))
        streamed.update(_rows_of(rank))
        if rank == 0:
            only_rank0.update(_rows_of(rank))
        kept.all_gather()
        accumulate.gather_accumulators(streamed)
        only_rank0.all_gather()
        result = {"rows": kept.rows(), "only_rank0": only_rank0.rows()}
        result["fd"] = np.array([kept.compute(REAL)["fd"], streamed.compute(REAL)["fd"]])
        try:
            gm.Accumulator(metrics="prdc", k=3 + rank).all_gather()
        except ValueError as exc:
            result["error"] = np.array(str(exc))
        np.savez(os.path.join(out, f"rank{rank}.npz"), **result)
    finally:
        dist.destroy_process_group()


def test_all_gather_on_a_gloo_group(tmp_path):
    """Two processes (gloo, CPU): every rank ends with rank 0's rows then rank 1's, exactly (no padding)."""
    torch = pytest.importorskip("torch")
    import torch.multiprocessing as mp

    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    # fork where there is one: spawn starts two fresh interpreters that import torch (~10 s here, against ~1 s)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    args = (2, f"file://{tmp_path / 'init'}", str(tmp_path))
    mp.start_processes(_gather_worker, args=args, nprocs=2, join=True, start_method=method)
    expected = np.concatenate([_rows_of(0), _rows_of(1)])
    fd = float(gm.fd(REAL, expected))
    for rank in range(2):
        result = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_array_equal(result["rows"], expected)
        np.testing.assert_array_equal(result["only_rank0"], _rows_of(0))
        kept, streamed = result["fd"]
        assert kept == fd and streamed == pytest.approx(fd, rel=1e-12)
        assert str(result["error"]).startswith(
            "group: rank 1's Accumulator has other settings than rank 0's (k=4 there, 3"
        )


def test_import_genmetrics_does_not_import_torch_for_the_accumulator():
    import subprocess

    code = "import genmetrics, genmetrics.accumulate, sys; assert 'torch' not in sys.modules"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_a_built_reference():
    """A gm.Reference in place of the real array: evaluate(ref, fake)'s report, and its moments reused."""
    ref = gm.Reference.build(REAL, train=TRAIN)
    acc = gm.Accumulator(ref, metrics=["prdc", "authenticity", "fd"])
    for batch in _uneven(FAKE):
        acc.update(batch)
    assert _table(acc.compute()) == _table(gm.evaluate(ref, FAKE, metrics=["prdc", "authenticity", "fd"]))
    direct = gm.evaluate(REAL, FAKE, TRAIN, metrics=["prdc", "authenticity", "fd"])
    assert acc.compute().numbers() == direct.numbers()
    streamed = gm.Accumulator(ref, metrics=["fd", "gaussian_kl"])
    for batch in _uneven(FAKE):
        streamed.update(batch)
    report = streamed.compute()
    assert report.info["n_train"] == TRAIN.shape[0]  # as evaluate takes the Reference's training set
    assert report["fd"] == pytest.approx(float(gm.fd(REAL, FAKE)), rel=1e-12)
    assert report["gaussian_kl"] == pytest.approx(float(gm.gaussian_kl(REAL, FAKE)), rel=1e-12)
