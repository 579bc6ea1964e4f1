"""The array engine's decisions with the steps the CUDA engine replaces, run on NumPy; and backend dispatch.

The CUDA engine (genmetrics.engine.cuda) runs the decision code of genmetrics.engine.array (knn, ball_query) with
its own steps: float32 tiles with float32 rounding margins, a k-th-value selection, and ball tests that return
the undecided pairs in no particular order. Those steps are emulated here in NumPy (float32 tiles, a shuffled
pair list, small blocks) and the answers must equal the float64-tile fallback's and the float64 references,
ties included: this checks the shared logic and its margins for the tiles the GPU uses, on a machine without one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import genmetrics as gm
from genmetrics import engine as _backend
from genmetrics.engine import decisions
from genmetrics.engine.decisions import ArrayDistanceOps
from genmetrics.engine.points import prepare_points
from genmetrics.support import arrays as _array
from reference_fidelity import (
    TINY_CLUSTERS,
    dist_rtol,
    lattice_params,
    lattice_sets,
    point_sets,
    ref_knn,
    ref_radius_query,
    tiny_cluster,
)


class Float32TileOps(ArrayDistanceOps):
    """What the CUDA engine computes, in NumPy: products on float32 tiles, a float32 margin, and undecided pairs
    returned in a scrambled order, over small blocks."""

    def __init__(self, seed: int = 0, block_rows: int = 7):
        self.rng = np.random.default_rng(seed)
        self.rows = block_rows

    def block_rows(self, references: int) -> int:
        return self.rows

    def rounding(self, queries):
        if queries.tile.dtype == np.float32:
            return 2.0**-24, 2.0**-126
        return 2.0**-53, 2.0**-1022

    def tile(self, points, start, stop):
        return points.tile[start:stop]

    def sq_distances(self, Q, R, q_sq, r_sq, self_offset):
        approx = q_sq.astype(Q.dtype)[:, None] + r_sq.astype(Q.dtype)[None, :] - Q.dtype.type(2) * (Q @ R.T)
        if self_offset >= 0:
            rows = np.arange(Q.shape[0])
            approx[rows, rows + self_offset] = np.inf
        return approx

    def ball_tests(self, block, coefficient, floor, radius2, per_row):
        sure, (rows, cols) = super().ball_tests(block, coefficient, floor, radius2, per_row)
        order = self.rng.permutation(rows.shape[0])
        return sure, (rows[order], cols[order])


def _points(*arrays, tiles=True):
    return prepare_points(*[np.ascontiguousarray(a) for a in arrays], tiles=tiles)


def _same_knn(X, Y, k, ops):
    if Y is None:
        (points,) = _points(X)
        got = decisions.knn(points, None, k, ops=ops)
        (plain,) = _points(X, tiles=False)
        want = decisions.knn(plain, None, k)
    else:
        refs, queries = _points(X, Y)
        got = decisions.knn(queries, refs, k, ops=ops)
        plain_refs, plain_queries = _points(X, Y, tiles=False)
        want = decisions.knn(plain_queries, plain_refs, k)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    return got


@given(st.data())
def test_float32_tile_knn_equals_the_float64_decisions(data):
    X = data.draw(point_sets(dtype=np.float32, min_n=2, max_n=30))
    k = data.draw(st.integers(1, X.shape[0] - 1))
    distances, indices = _same_knn(X, None, k, Float32TileOps(block_rows=data.draw(st.integers(1, 9))))
    ref_d, ref_i = ref_knn(X, None, k)
    np.testing.assert_array_equal(indices, ref_i)
    assert distances.dtype == np.float64
    # the float64 distances of the chosen pairs: the same sum in another order at most
    np.testing.assert_allclose(distances, ref_d, rtol=dist_rtol(X.shape[1]), atol=0)


@given(st.data())
def test_float32_tile_knn_ties_on_lattices(data):
    params = data.draw(lattice_params(dtype=np.float32))
    X = data.draw(lattice_sets(params, min_n=2))
    Y = data.draw(lattice_sets(params, d=X.shape[1]))
    k = data.draw(st.integers(1, X.shape[0]))
    _same_knn(X, Y, k, Float32TileOps(block_rows=data.draw(st.integers(1, 9))))
    if X.shape[0] > 1:
        _same_knn(X, None, min(k, X.shape[0] - 1), Float32TileOps())


def test_float32_tile_knn_far_from_the_origin():
    """Offset 1000, neighbours 1e-3 apart: float32 tiles cannot tell them apart; the float64 re-check does."""
    rng = np.random.default_rng(3)
    X = (1000.0 + rng.integers(0, 4, size=(300, 3)) * 2.0**-10).astype(np.float32)
    X[::7] += np.float32(2.0**-13)
    _same_knn(X, None, 5, Float32TileOps(block_rows=64))
    _same_knn(X[:120], X[120:], 9, Float32TileOps(block_rows=50))


@given(st.data())
def test_float32_tile_ball_query_equals_the_float64_decisions(data):
    params = data.draw(lattice_params(dtype=np.float32))
    A = data.draw(lattice_sets(params, min_n=1))
    B = data.draw(lattice_sets(params, d=A.shape[1], min_n=1))
    a_radius = np.sqrt(data.draw(st.lists(st.integers(0, 4), min_size=B.shape[0], max_size=B.shape[0]))) * params[1]
    b_radius = np.sqrt(data.draw(st.lists(st.integers(0, 4), min_size=A.shape[0], max_size=A.shape[0]))) * params[1]
    inclusive = data.draw(st.booleans())
    a, b = _points(A, B)
    sides = dict(
        a_radius=np.asarray(a_radius, float),
        a_nearest=True,
        b_radius=np.asarray(b_radius, float),
        b_nearest=True,
        a_weight=np.where(np.arange(B.shape[0]) % 3 == 0, -1.0, a_radius),
    )
    got = decisions.ball_query(a, b, inclusive, ops=Float32TileOps(block_rows=data.draw(st.integers(1, 9))), **sides)
    plain_a, plain_b = _points(A, B, tiles=False)
    want = decisions.ball_query(plain_a, plain_b, inclusive, **sides)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    ref = ref_radius_query(B, A, a_radius, inclusive=inclusive)
    np.testing.assert_array_equal(got["a_counts"], ref["counts"][0])


@pytest.mark.parametrize("dtype,far,magnitude", TINY_CLUSTERS)
def test_float32_tile_ball_query_tiny_cluster(dtype, far, magnitude):
    """Float32 tiles (the GPU's) of a cluster ~1e-20 next to points at 1: products and norms underflow, and only
    the margin's absolute floor keeps 'surely inside' honest."""
    for seed in range(5):
        X, Y = tiny_cluster(dtype, far, magnitude, seed)
        a, b = _points(Y, X)
        for factor in (0.5, 1.0, 2.0, 4.0):
            radii = np.full(X.shape[0], factor * magnitude * 4.0)
            got = decisions.ball_query(a, b, False, a_radius=radii, ops=Float32TileOps(block_rows=4))
            np.testing.assert_array_equal(got["a_counts"], ref_radius_query(X, Y, radii)["counts"][0])


def test_shuffled_pairs_would_be_caught():
    """The ball-test emulation really scrambles the undecided pairs (else the order-independence is untested)."""
    rng = np.random.default_rng(0)
    A = (rng.integers(0, 3, size=(40, 2))).astype(np.float32)
    a, b = _points(A, A)
    ops = Float32TileOps(block_rows=40)
    block = next(ops.blocks(a, b, False))
    coefficient, floor = ops.margin_terms(a)
    radius2 = np.ones(40)
    _, (rows, cols) = ArrayDistanceOps.ball_tests(ops, block, coefficient, floor, radius2, True)
    _, (rows2, cols2) = ops.ball_tests(block, coefficient, floor, radius2, True)
    assert rows.shape[0] > 10 and not np.array_equal(rows, rows2)


# ------------------------------------------------------------------------------------------------------------
# backend dispatch and device arrays (no GPU here: the GPU backends report why not)
# ------------------------------------------------------------------------------------------------------------


class _FakeCudaArray:
    """An object that announces CUDA memory, as a PyTorch CUDA tensor does."""

    __cuda_array_interface__ = {"shape": (2, 2), "typestr": "<f4", "data": (0, False), "version": 3}


class _FakeDLPack:
    def __init__(self, device_type):
        self.device_type = device_type

    def __dlpack_device__(self):
        return (self.device_type, 0)


def test_device_arrays_are_recognised():
    assert not _array.is_device_array(np.zeros((2, 2)))
    assert _array.is_device_array(_FakeCudaArray())
    assert _array.is_device_array(_FakeDLPack(2))  # kDLCUDA
    assert not _array.is_device_array(_FakeDLPack(1))  # kDLCPU


def test_backends_list_the_gpu_engines_with_reasons():
    status = gm.backends()
    assert set(status) >= {"cpu", "numpy", "cuda", "cupy"}
    for name in ("cuda", "cupy"):
        available, reason = status[name]
        assert isinstance(reason, str) and reason
        if not available:
            with pytest.raises(ValueError, match=f"backend: '{name}' is not available"):
                gm.knn(np.zeros((3, 2)), k=1, backend=name)


def test_gpu_arrays_without_a_gpu_backend_get_a_named_error():
    status = gm.backends()
    if status["cuda"][0] or status["cupy"][0]:
        pytest.skip("a GPU backend is available here")
    with pytest.raises(ValueError, match="GPU arrays"):
        _backend.get_backend(None, _FakeCudaArray())


def test_host_arrays_keep_the_host_backends():
    assert _backend.get_backend(None, np.zeros((2, 2))).name in ("cpu", "numpy")
    assert _backend.get_backend("numpy", np.zeros((2, 2))).device == "host"
