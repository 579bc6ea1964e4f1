"""gm.knn and gm.radius_query against the brute-force float64 reference (tests/reference_fidelity.py).

The contract: every distance is sqrt(sum (x_k - y_k)^2) in float64 from explicit differences (float32
inputs upcast first), every decision (neighbour order, d < r, d <= r) is the one made on those distances,
exact ties (duplicated rows, integer-valued data) included, ties broken by the lower index.

Two kinds of data:

* arbitrary floats (``rf.point_sets``: hypothesis floats with injected duplicate rows), compared in the
  reference's tolerant mode: only swaps between *different* float64 distances closer than
  ``rf.dist_rtol(d)`` (~1e-14 relative; another summation order may invert them) are forgiven; exact
  ties, distances (1e-12 relative) and every other decision must match;
* lattices (``rf.lattice_sets``: offset + 2**-s * small integers, float32 and float64, offsets up to
  1e3) on which every sum of squares is exact in any order, compared exactly.  In float32 with the offset
  of 1e3 a fused |x|^2 + |y|^2 - 2 x.y evaluation is off by ~0.1 in d^2 for differences of 2**-6: only an
  engine that re-decides in float64 passes.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import genmetrics as gm
import reference_fidelity as rf
from conftest import LAYOUTS, with_layout
from reference_fidelity import TINY_CLUSTERS, tiny_cluster

K_ = r"\bk\b"
X_ = r"\bX\b"
Y_ = r"\bY\b"
RADII_ = r"\bradii\b"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def run_knn(X, Y, k, backend):
    """gm.knn with the checks every answer must pass (types, shapes), inputs not modified."""
    before = [np.array(A, copy=True) for A in (X, Y) if A is not None]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist, idx = gm.knn(X, Y, k=k, backend=backend)
    assert not caught, f"knn warned: {[str(w.message) for w in caught]}"
    after = [A for A in (X, Y) if A is not None]
    for b, a in zip(before, after):
        assert np.array_equal(a, b), "knn modified its input"
    m = X.shape[0] if Y is None else Y.shape[0]
    assert isinstance(dist, np.ndarray) and isinstance(idx, np.ndarray)
    assert dist.dtype == np.float64, dist.dtype
    assert idx.dtype == np.int64, idx.dtype
    assert dist.shape == (m, k) and idx.shape == (m, k), (dist.shape, idx.shape)
    assert np.all(np.diff(dist, axis=1) >= 0), "distances are not ascending"
    return dist, idx


def run_radius_query(X, Y, radii, inclusive, backend):
    before = [np.array(A, copy=True) for A in (X, Y, radii)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.radius_query(X, Y, radii, inclusive=inclusive, backend=backend)
    assert not caught, f"radius_query warned: {[str(w.message) for w in caught]}"
    for b, a in zip(before, (X, Y, radii)):
        assert np.array_equal(a, b), "radius_query modified its input"
    m = Y.shape[0]
    for name, dtype in (
        ("counts", np.int64),
        ("any", np.bool_),
        ("nearest_index", np.int64),
        ("nearest_distance", np.float64),
    ):
        v = getattr(res, name)
        assert isinstance(v, np.ndarray), name
        assert v.dtype == dtype, (name, v.dtype)
        assert v.shape == (m,), (name, v.shape)
    assert np.array_equal(res.any, res.counts > 0), "any != (counts > 0)"
    return res


def check_radius_query(res, X, Y, radii, inclusive, rtol):
    ref = rf.ref_radius_query(X, Y, radii, inclusive=inclusive, rtol=rtol)
    lo, hi = ref["counts"]
    bad = np.flatnonzero((res.counts < lo) | (res.counts > hi))
    if bad.size:
        j = int(bad[0])
        raise AssertionError(
            f"counts[{j}] = {res.counts[j]}, reference {lo[j]}..{hi[j]} "
            f"(inclusive={inclusive}); {bad.size} queries wrong"
        )
    a_lo, a_hi = ref["any"]
    assert np.all(res.any >= a_lo) and np.all(res.any <= a_hi), "any differs from the reference"
    # nearest over all of X: a 1-NN query
    rf.check_knn_answer(
        ref["D"],
        res.nearest_distance[:, None],
        res.nearest_index[:, None],
        self_query=False,
        rtol=rtol,
        X=X,
        what="nearest",
    )


def draw_k(data, k_max):
    """k in [1, k_max], with the extremes (1 and k_max) drawn often."""
    return data.draw(st.one_of(st.just(k_max), st.just(1), st.integers(1, k_max)), label="k")


def copy_some_rows(data, Y, X):
    """Make a few rows of Y exact copies of rows of X (distance 0, exact ties between them)."""
    Y = np.array(Y, copy=True)
    if data.draw(st.booleans(), label="copy rows of X into Y"):
        for _ in range(data.draw(st.integers(1, Y.shape[0]), label="copies")):
            Y[data.draw(st.integers(0, Y.shape[0] - 1))] = X[data.draw(st.integers(0, X.shape[0] - 1))]
    return Y


# --------------------------------------------------------------------------------------------
# knn: arbitrary floats
# --------------------------------------------------------------------------------------------


@given(data=st.data())
def test_knn_self_matches_reference(backend, data):
    X = data.draw(rf.point_sets(min_n=2), label="X")
    k = draw_k(data, X.shape[0] - 1)
    Xl = with_layout(X, data.draw(st.sampled_from(LAYOUTS), label="layout"))
    dist, idx = run_knn(Xl, None, k, backend)
    rf.check_knn_answer(
        rf.ref_distances(X), dist, idx, self_query=True, rtol=rf.dist_rtol(X.shape[1]), X=X, what="knn(X)"
    )


@given(data=st.data())
def test_knn_queries_match_reference(backend, data):
    X = data.draw(rf.point_sets(min_n=1), label="X")
    Y = data.draw(rf.point_sets(d=X.shape[1], min_n=1), label="Y")
    Y = copy_some_rows(data, Y, X.astype(Y.dtype))
    k = draw_k(data, X.shape[0])
    Xl = with_layout(X, data.draw(st.sampled_from(LAYOUTS), label="X layout"))
    Yl = with_layout(Y, data.draw(st.sampled_from(LAYOUTS), label="Y layout"))
    dist, idx = run_knn(Xl, Yl, k, backend)
    rf.check_knn_answer(
        rf.ref_distances(X, Y), dist, idx, self_query=False, rtol=rf.dist_rtol(X.shape[1]), X=X, what="knn(X, Y)"
    )


# --------------------------------------------------------------------------------------------
# knn: lattices, exact ties, float32 cancellation
# --------------------------------------------------------------------------------------------


@given(data=st.data())
def test_knn_exact_ties_on_lattices(backend, data):
    params = data.draw(rf.lattice_params(), label="lattice")
    X = data.draw(rf.lattice_sets(params, min_n=2), label="X")
    layout = data.draw(st.sampled_from(LAYOUTS), label="layout")
    if data.draw(st.booleans(), label="self"):
        k = draw_k(data, X.shape[0] - 1)
        dist, idx = run_knn(with_layout(X, layout), None, k, backend)
        rf.check_knn_answer(rf.ref_distances(X), dist, idx, self_query=True, what="knn(X) lattice")
    else:
        Y = data.draw(rf.lattice_sets(params, d=X.shape[1]), label="Y")
        k = draw_k(data, X.shape[0])
        dist, idx = run_knn(with_layout(X, layout), Y, k, backend)
        rf.check_knn_answer(rf.ref_distances(X, Y), dist, idx, self_query=False, what="knn(X, Y) lattice")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_knn_float32_cancellation_does_not_flip_neighbours(backend, dtype):
    """A common offset of 1e3 and differences of 2**-7..2**-14: a float32 |x|^2+|y|^2-2x.y cannot tell
    these apart (its error is ~0.2 in d^2), a float64 one misjudges the exact ties; the float64
    explicit-difference distances decide them exactly."""
    o = 1000.0
    h = 2.0**-7
    X = np.array([[o, o], [o + 2 * h, o], [o + h, o + h], [o + h, o - h]], dtype=dtype)
    Y = np.array(
        [
            [o + h, o],  # at exactly h from all four points: a four-way tie
            [o + h + 2.0**-14, o],  # a hair nearer to 1 than to 0
            [o + h - 2.0**-14, o],  # a hair nearer to 0 than to 1
            [o + 2 * h, o],  # exactly on x1
        ],
        dtype=dtype,
    )
    dist, idx = run_knn(X, Y, 4, backend)
    D = rf.ref_distances(X, Y)
    rf.check_knn_answer(D, dist, idx, self_query=False, what="knn offset")
    # the intended structure, spelled out (so that the test also fails if the reference were wrong)
    assert idx[0].tolist() == [0, 1, 2, 3]  # four exact ties at distance h
    assert np.all(dist[0] == h)
    assert idx[1, 0] == 1 and idx[2, 0] == 0
    assert idx[3, 0] == 1 and dist[3, 0] == 0.0
    dist, idx = run_knn(X, None, 3, backend)
    rf.check_knn_answer(rf.ref_distances(X), dist, idx, self_query=True, what="knn(X) offset")


def test_knn_float32_offset_lattice_bulk(backend):
    """Many points on a fine lattice far from the origin, in float32: every tie exact."""
    rng = np.random.default_rng(7)
    X = (1000.0 + rng.integers(-3, 4, size=(300, 4)) * 2.0**-6).astype(np.float32)
    Y = (1000.0 + rng.integers(-3, 4, size=(200, 4)) * 2.0**-6).astype(np.float32)
    dist, idx = run_knn(X, Y, 9, backend)
    rf.check_knn_answer(rf.ref_distances(X, Y), dist, idx, self_query=False, what="knn f32 lattice")
    dist, idx = run_knn(X, None, 9, backend)
    rf.check_knn_answer(rf.ref_distances(X), dist, idx, self_query=True, what="knn(X) f32 lattice")


# --------------------------------------------------------------------------------------------
# knn: sizes that cross tile edges (rows of 256 / 512, columns of 1024), long feature vectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, m, d, k",
    [
        (700, 1500, 3, 5),
        (700, None, 3, 699),  # self, k = n - 1
        (1100, None, 3, 4),  # self, more than two 512-row tiles
        (257, 1025, 2, 257),  # k = n, one past the tile edges
    ],
)
def test_knn_across_tiles_lattice(backend, n, m, d, k):
    rng = np.random.default_rng(n + (m or 0) + d)
    X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
    Y = None if m is None else rng.integers(-2, 3, size=(m, d)).astype(np.float32)
    dist, idx = run_knn(X, Y, k, backend)
    rf.check_knn_answer(rf.ref_distances(X, Y), dist, idx, self_query=Y is None, what=f"knn {n}x{m}")


@pytest.mark.parametrize("n, m, d", [(700, 1500, 3), (90, 70, 130), (60, None, 300)])
def test_knn_across_tiles_floats(backend, n, m, d):
    rng = np.random.default_rng(n * d)
    X = rng.normal(size=(n, d))
    X[5] = X[600 % n]  # a duplicate
    Y = None if m is None else rng.normal(size=(m, d)).astype(np.float32)
    if Y is not None:
        Y[3] = X[7]
    k = 6
    dist, idx = run_knn(X, Y, k, backend)
    rf.check_knn_answer(
        rf.ref_distances(X, Y),
        dist,
        idx,
        self_query=Y is None,
        rtol=rf.dist_rtol(d),
        X=X,
        what=f"knn floats {n}x{m}x{d}",
    )


# --------------------------------------------------------------------------------------------
# knn: small shapes and conventions
# --------------------------------------------------------------------------------------------


def test_knn_single_reference_point(backend):
    X = np.array([[1.0, 2.0]])
    Y = np.array([[1.0, 2.0], [4.0, 6.0]])
    dist, idx = run_knn(X, Y, 1, backend)
    assert idx.tolist() == [[0], [0]]
    assert dist.tolist() == [[0.0], [5.0]]


def test_knn_self_duplicates_are_neighbours(backend):
    """Y=None excludes the point itself by index only: its copies are neighbours at distance 0."""
    X = np.array([[0.0], [3.0], [0.0], [0.0], [1.0]])
    dist, idx = run_knn(X, None, 2, backend)
    assert idx.tolist() == [[2, 3], [4, 0], [0, 3], [0, 2], [0, 2]]
    assert dist.tolist() == [[0, 0], [2, 3], [0, 0], [0, 0], [1, 1]]


@pytest.mark.parametrize("value", [1.6369616873214543e-299, 1.45821404e-230, 1e-150, 1e150])
def test_knn_extreme_magnitudes(backend, value):
    """Finite values of any magnitude are valid input (hypothesis found an OverflowError in the engine's
    rescaling of sets whose centred extent is tiny).  Below ~1e-154 the squares underflow and the
    float64 formula gives distance 0: the decisions follow the formula, as everywhere."""
    X = np.array([[0.0], [value], [value], [2 * value], [value]])
    X7 = np.full((7, 1), value)
    for A, Y, k in ((X, None, 3), (X, X[::-1].copy(), 5), (X7, None, 6), (np.zeros((1, 1)), X, 1)):
        dist, idx = run_knn(A, Y, k, backend)
        rf.check_knn_answer(
            rf.ref_distances(A, Y),
            dist,
            idx,
            self_query=Y is None,
            rtol=rf.dist_rtol(1),
            X=A,
            what=f"knn at magnitude {value}",
        )
    radii = np.array([0.0, value, 0.5 * value, value, 0.0])
    for inclusive in (False, True):
        res = run_radius_query(X, X[::-1].copy(), radii, inclusive, backend)
        check_radius_query(res, X, X[::-1], radii, inclusive, rtol=rf.dist_rtol(1))
    res = run_radius_query(np.zeros((1, 1), np.float32), np.array([[value]]), np.zeros(1), False, backend)
    expected = rf.ref_distances(np.zeros((1, 1)), np.array([[value]]))[0, 0]  # 0 where value**2 underflows
    assert res.counts.tolist() == [0] and res.nearest_distance.tolist() == [expected]


def test_knn_default_k_is_5(backend):
    X = np.arange(14, dtype=np.float64).reshape(7, 2)
    dist, idx = gm.knn(X, backend=backend)
    assert idx.shape == (7, 5)


def test_knn_k_may_be_a_numpy_integer(backend):
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    dist, idx = run_knn(X, None, np.int64(2), backend)
    assert idx.tolist()[0] == [1, 2]


# --------------------------------------------------------------------------------------------
# knn: bad input
# --------------------------------------------------------------------------------------------

GOOD = np.random.default_rng(3).normal(size=(8, 3))
GOOD_Y = np.random.default_rng(4).normal(size=(5, 3))


@pytest.mark.parametrize("k", [0, -1, 8, 9, 100])
def test_knn_self_k_out_of_range(backend, k):
    with pytest.raises(ValueError, match=K_):
        gm.knn(GOOD, k=k, backend=backend)


@pytest.mark.parametrize("k", [0, -2, 9])
def test_knn_queries_k_out_of_range(backend, k):
    with pytest.raises(ValueError, match=K_):
        gm.knn(GOOD, GOOD_Y, k=k, backend=backend)


def test_knn_k_equal_n_is_legal_only_with_queries(backend):
    run_knn(GOOD, GOOD_Y, 8, backend)
    run_knn(GOOD, None, 7, backend)
    with pytest.raises(ValueError, match=K_):
        gm.knn(GOOD[:1], k=1, backend=backend)  # a single point has no other point


@pytest.mark.parametrize("k", [2.0, 2.5, "3", None, True, np.float64(2.0)])
def test_knn_k_wrong_type(backend, k):
    with pytest.raises((TypeError, ValueError), match=K_):
        gm.knn(GOOD, GOOD_Y, k=k, backend=backend)


def test_knn_mismatched_feature_dimensions(backend):
    with pytest.raises(ValueError, match=Y_):
        gm.knn(GOOD, GOOD_Y[:, :2], k=2, backend=backend)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "Y"])
def test_knn_non_finite(backend, bad, where):
    X, Y = GOOD.copy(), GOOD_Y.copy()
    (X if where == "X" else Y)[1, 2] = bad
    with pytest.raises(ValueError, match=X_ if where == "X" else Y_):
        gm.knn(X, Y, k=2, backend=backend)
    if where == "X":
        with pytest.raises(ValueError, match=X_):
            gm.knn(X.astype(np.float32), k=2, backend=backend)


@pytest.mark.parametrize("bad", [np.array([["a", "b", "c"]] * 8), np.ones((8, 3), dtype=complex)])
def test_knn_wrong_array_types(backend, bad):
    with pytest.raises((TypeError, ValueError), match=X_):
        gm.knn(bad, k=2, backend=backend)
    with pytest.raises((TypeError, ValueError), match=Y_):
        gm.knn(GOOD, bad, k=2, backend=backend)
    with pytest.raises((TypeError, ValueError), match=X_):
        gm.radius_query(bad, GOOD_Y, np.ones(8), backend=backend)


def test_knn_not_two_dimensional(backend):
    with pytest.raises(ValueError, match=X_):
        gm.knn(GOOD[0], k=1, backend=backend)
    with pytest.raises(ValueError, match=Y_):
        gm.knn(GOOD, GOOD_Y[0], k=1, backend=backend)


# --------------------------------------------------------------------------------------------
# radius_query
# --------------------------------------------------------------------------------------------


@st.composite
def radii_for(draw, D, exact_distances):
    """radii[i]: 0, a reference distance D[i, j] (exactly when ``exact_distances``, else 1 +- 1e-9 times
    it: a decision a float32 or a fused float64 evaluation may get wrong but float64 may not), or any
    value in [0, 2 max D]."""
    n, m = D.shape
    top = float(D.max()) if D.size else 1.0
    out = np.empty(n)
    for i in range(n):
        kind = draw(st.sampled_from(["zero", "distance", "near", "free"]))
        if kind == "zero":
            out[i] = 0.0
        elif kind == "distance" and exact_distances:
            out[i] = D[i, draw(st.integers(0, m - 1))]
        elif kind in ("distance", "near"):
            out[i] = D[i, draw(st.integers(0, m - 1))] * draw(st.sampled_from([1 - 1e-9, 1 + 1e-9]))
        else:
            out[i] = draw(st.floats(0.0, 2.0 * top + 1.0, allow_nan=False, allow_infinity=False))
    return out


@given(data=st.data())
def test_radius_query_matches_reference(backend, data):
    X = data.draw(rf.point_sets(min_n=1), label="X")
    Y = data.draw(rf.point_sets(d=X.shape[1], min_n=1), label="Y")
    Y = copy_some_rows(data, Y, X.astype(Y.dtype))
    radii = data.draw(radii_for(rf.ref_distances(X, Y), exact_distances=False), label="radii")
    inclusive = data.draw(st.booleans(), label="inclusive")
    Xl = with_layout(X, data.draw(st.sampled_from(LAYOUTS), label="X layout"))
    Yl = with_layout(Y, data.draw(st.sampled_from(LAYOUTS), label="Y layout"))
    res = run_radius_query(Xl, Yl, radii, inclusive, backend)
    check_radius_query(res, X, Y, radii, inclusive, rtol=rf.dist_rtol(X.shape[1]))


@given(data=st.data())
def test_radius_query_exact_on_lattices(backend, data):
    """Radii set exactly to distances between other points: d < r and d <= r differ only by the exact
    ties, which must be decided exactly (also with float32 data on an offset of 1e3, and with float32
    radii, which are upcast, not the distances downcast)."""
    params = data.draw(rf.lattice_params(), label="lattice")
    X = data.draw(rf.lattice_sets(params), label="X")
    Y = data.draw(rf.lattice_sets(params, d=X.shape[1]), label="Y")
    radii = data.draw(radii_for(rf.ref_distances(X, Y), exact_distances=True), label="radii")
    if data.draw(st.booleans(), label="float32 radii"):
        radii = radii.astype(np.float32)
    Xl = with_layout(X, data.draw(st.sampled_from(LAYOUTS), label="X layout"))
    for inclusive in (False, True):
        res = run_radius_query(Xl, Y, radii, inclusive, backend)
        check_radius_query(res, X, Y, radii, inclusive, rtol=0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_radius_query_float32_cancellation(backend, dtype):
    """Radii equal to the distance to another point, at an offset of 1e3 with differences of 2**-14."""
    o = 1000.0
    e = 2.0**-14
    X = np.array([[o, o, o], [o + 4 * e, o, o], [o, o + 3 * e, o]], dtype=dtype)
    Y = np.array([[o + 3 * e, o + 4 * e, o], [o - 4 * e, o + 3 * e, o], [o + 4 * e, o, o + 3 * e]], dtype=dtype)
    # every squared distance here is an integer multiple of e^2 (so exactly computed in float64)
    S = np.sum(((X.astype(np.float64)[:, None, :] - Y.astype(np.float64)[None, :, :]) / e) ** 2, axis=-1)
    assert S.tolist() == [[25, 25, 25], [17, 73, 9], [10, 16, 34]]
    radii = np.array([5 * e, 3 * e, 5 * e])  # x0 to y0 is 5e, x1 to y2 is 3e, x2 to y2 is 5e
    for inclusive in (False, True):
        res = run_radius_query(X, Y, radii, inclusive, backend)
        check_radius_query(res, X, Y, radii, inclusive, rtol=0.0)
    strict = gm.radius_query(X, Y, radii, inclusive=False, backend=backend).counts
    incl = gm.radius_query(X, Y, radii, inclusive=True, backend=backend).counts
    # y0: d(x0)=5e (tie), d(x1)=sqrt(1+16)e > 3e, d(x2)=sqrt(9+1)e < 5e
    # y1: d(x0)=5e (tie), d(x1)=sqrt(64+9)e, d(x2)=4e < 5e
    # y2: d(x0)=5e (tie), d(x1)=3e (tie), d(x2)=sqrt(16+9+9)e > 5e
    assert strict.tolist() == [1, 1, 0]
    assert incl.tolist() == [2, 2, 2]


@pytest.mark.parametrize("n, m, d", [(700, 1500, 3), (1030, 257, 2)])
def test_radius_query_across_tiles(backend, n, m, d):
    rng = np.random.default_rng(n + m)
    X = rng.integers(-2, 3, size=(n, d)).astype(np.float32)
    Y = rng.integers(-2, 3, size=(m, d)).astype(np.float64)
    radii = np.sqrt(rng.integers(0, 6, size=n).astype(np.float64))  # exactly some lattice distances
    for inclusive in (False, True):
        res = run_radius_query(X, Y, radii, inclusive, backend)
        check_radius_query(res, X, Y, radii, inclusive, rtol=0.0)


def test_radius_query_small_example(backend):
    X = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    Y = np.array([[0.0, 0.0], [3.0, 4.0], [1.5, 2.0]])
    radii = np.array([2.5, 5.0, 0.0])
    res = run_radius_query(X, Y, radii, False, backend)
    # y0: x0 (0 < 2.5), x1 (3 < 5), x2 (4 < 0? no)
    # y1: x0 (5 < 2.5 no), x1 (4 < 5), x2 (3 < 0 no)
    # y2: x0 (2.5 < 2.5 no), x1 (2.5 < 5), x2 (2.5 < 0 no)
    assert res.counts.tolist() == [2, 1, 1]
    assert res.nearest_index.tolist() == [0, 2, 0]  # y2: three exact ties at 2.5 -> index 0
    assert res.nearest_distance.tolist() == [0.0, 3.0, 2.5]
    res = run_radius_query(X, Y, radii, True, backend)
    assert res.counts.tolist() == [2, 1, 2]
    res = run_radius_query(X, Y, np.zeros(3), True, backend)
    assert res.counts.tolist() == [1, 0, 0] and res.any.tolist() == [True, False, False]


def test_radius_query_result_pickles(backend):
    X, Y = GOOD, GOOD_Y
    res = gm.radius_query(X, Y, np.ones(len(X)), backend=backend)
    back = pickle.loads(pickle.dumps(res))
    for name in ("counts", "any", "nearest_index", "nearest_distance"):
        assert np.array_equal(getattr(back, name), getattr(res, name))


@pytest.mark.parametrize(
    "radii",
    [
        np.ones(7),  # one too few
        np.ones(9),  # one too many
        np.ones(5),  # the length of Y, not of X
        np.ones((8, 1)),  # 2-D
        np.full(8, -1.0),  # negative
        np.array([1.0] * 7 + [-1e-300]),
        np.array([1.0] * 7 + [np.nan]),
        np.array([1.0] * 7 + [np.inf]),
        np.array(1.0),  # a scalar
    ],
)
def test_radius_query_bad_radii(backend, radii):
    with pytest.raises(ValueError, match=RADII_):
        gm.radius_query(GOOD, GOOD_Y, radii, backend=backend)


@pytest.mark.parametrize("radii", [None, "1", np.array(["a"] * 8)])
def test_radius_query_radii_wrong_type(backend, radii):
    with pytest.raises((TypeError, ValueError), match=RADII_):
        gm.radius_query(GOOD, GOOD_Y, radii, backend=backend)


def test_radius_query_bad_points(backend):
    with pytest.raises(ValueError, match=Y_):
        gm.radius_query(GOOD, GOOD_Y[:, :2], np.ones(8), backend=backend)
    X = GOOD.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match=X_):
        gm.radius_query(X, GOOD_Y, np.ones(8), backend=backend)
    Y = GOOD_Y.copy()
    Y[0, 0] = np.inf
    with pytest.raises(ValueError, match=Y_):
        gm.radius_query(GOOD, Y, np.ones(8), backend=backend)


@pytest.mark.parametrize("dtype,far,magnitude", TINY_CLUSTERS)
def test_radius_query_tiny_cluster_next_to_far_points(backend, dtype, far, magnitude):
    for seed in range(5):
        X, Y = tiny_cluster(dtype, far, magnitude, seed)
        for factor in (0.5, 1.0, 2.0, 4.0):
            radii = np.full(X.shape[0], factor * magnitude * np.sqrt(16))
            want = rf.ref_radius_query(X, Y, radii)
            got = gm.radius_query(X, Y, radii, backend=backend)
            np.testing.assert_array_equal(got.counts, want["counts"][0], err_msg=f"seed {seed}, factor {factor}")


@pytest.mark.parametrize("dtype,far,magnitude", TINY_CLUSTERS)
def test_knn_tiny_cluster_next_to_far_points(backend, dtype, far, magnitude):
    for seed in range(5):
        X, Y = tiny_cluster(dtype, far, magnitude, seed)
        distances, indices = gm.knn(X, Y, k=3, backend=backend)
        rf.check_knn_answer(rf.ref_distances(X, Y), distances, indices, self_query=False, X=X)
