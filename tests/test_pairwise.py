"""genmetrics.engine.pairwise: float64 row sums and squared distances in NumPy's pairwise order, bit for bit.

Every comparison is exact: the float64 results are compared through their int64 bit patterns, so
even the sign of a zero counts. The rule itself (NumPy's ``pairwise_sum``, started from the
reduction's initial value 0.0) is checked against ``np.sum`` by an independent scalar reference,
and ``test_data_discriminates_orders`` proves that the data used here tells the right order from
plausible wrong ones (sequential, first element as initial value, other block sizes / splits /
combination trees), so the equality tests cannot pass by accident.
"""

from __future__ import annotations

import importlib.util
import os
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import LAYOUTS, with_layout

try:  # the installed package, once it ships the module
    from genmetrics.engine import pairwise as pw
except ImportError:  # an installed build older than the source tree: load the source file itself
    _PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python", "genmetrics", "_pairwise.py")
    _SPEC = importlib.util.spec_from_file_location("genmetrics_pairwise_source", _PATH)
    pw = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(pw)

pairwise_sum_rows = pw.pairwise_sum_rows
exact_sq_distances_pairwise = pw.exact_sq_distances_pairwise

LARGE_D = (128, 129, 135, 136, 137, 255, 256, 257, 263, 264, 511, 1000, 1024, 2048, 4097)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def bits(a):
    """The int64 bit patterns of a float64 array (exact comparison, -0.0 != +0.0, nan by payload)."""
    a = np.asarray(a)
    assert a.dtype == np.float64, a.dtype
    return np.ascontiguousarray(a).view(np.int64)


def assert_bits_equal(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.flatnonzero(bits(got) != bits(want))
    assert diff.size == 0, (
        f"{diff.size} of {got.size} differ, first at {diff[0]}: {got.flat[diff[0]]!r} != {want.flat[diff[0]]!r}"
    )


def wide_rows(seed, rows, d):
    """Random float64 rows spanning 16 decades (so that the summation order shows in the last bits)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, d)) * 10.0 ** rng.uniform(-8, 8, (rows, d))


def scalar_sum(row, initial=0.0, blocksize=128, unroll=8, align=8, tree=True, first_as_initial=False):
    """NumPy's reduction of one row written out in Python floats; the keywords give wrong variants.

    Defaults: ``initial + pairwise(row)`` with NumPy's ``pairwise_sum`` (loops_utils.h.src).
    """
    row = [float(x) for x in row]
    if first_as_initial:
        if not row:
            return initial
        initial, row = row[0], row[1:]

    def block(a):
        n = len(a)
        if n < unroll:
            s = 0.0
            for x in a:
                s += x
            return s
        r = a[:unroll]
        for i in range(unroll, n - n % unroll, unroll):
            r = [r[j] + a[i + j] for j in range(unroll)]
        if tree:  # ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), any unroll a power of 2
            while len(r) > 1:
                r = [r[j] + r[j + 1] for j in range(0, len(r), 2)]
            s = r[0]
        else:
            s = 0.0
            for x in r:
                s += x
        for i in range(n - n % unroll, n):
            s += a[i]
        return s

    def pairwise(a):
        n = len(a)
        if n <= blocksize:
            return block(a)
        half = n // 2
        half -= half % align
        return pairwise(a[:half]) + pairwise(a[half:])

    return initial + pairwise(row)


def scalar_rows(T, **variant):
    return np.array([scalar_sum(row, **variant) for row in T], dtype=np.float64)


def sequential_rows(T):
    """Plain left-to-right summation of each row (0.0 + a0 + a1 + ...), vectorised."""
    out = np.zeros(T.shape[0])
    for j in range(T.shape[1]):
        out += T[:, j]
    return out


# the data sets of the exhaustive and large-d tests (deterministic, shared with the discrimination test)
SMALL_D_DATA = {d: wide_rows(d, 3, d) for d in range(1, 301)}
LARGE_D_DATA = {d: wide_rows(10_000 + d, 2, d) for d in LARGE_D}

WRONG_ORDERS = {
    "first element as initial value": dict(first_as_initial=True),
    "block size 64": dict(blocksize=64),
    "block size 256": dict(blocksize=256),
    "split at n // 2 unaligned": dict(align=1),
    "linear combination of the 8 accumulators": dict(tree=False),
    "4 accumulators": dict(unroll=4, align=4),
    "16 accumulators": dict(unroll=16, align=16),
}


# --------------------------------------------------------------------------------------------
# the rule itself, and the power of the data to tell orders apart
# --------------------------------------------------------------------------------------------


def test_scalar_rule_is_numpys_sum():
    """The documented rule, written independently in Python floats, is np.sum over the last axis."""
    for data in (SMALL_D_DATA, LARGE_D_DATA):
        for T in data.values():
            assert_bits_equal(scalar_rows(T), np.sum(T, axis=-1))


def test_data_discriminates_orders():
    """Each plausible wrong order disagrees with np.sum on the data of the equality tests."""
    all_rows = [T for T in SMALL_D_DATA.values()] + [T for T in LARGE_D_DATA.values()]
    want = [np.sum(T, axis=-1) for T in all_rows]

    got = [sequential_rows(T) for T in all_rows]
    assert any(not np.array_equal(bits(g), bits(w)) for g, w in zip(got, want)), "sequential"

    for name, variant in WRONG_ORDERS.items():
        got = [scalar_rows(T, **variant) for T in all_rows]
        assert any(not np.array_equal(bits(g), bits(w)) for g, w in zip(got, want)), name

    # the initial value 0.0: a row of negative zeros sums to +0.0, not -0.0
    Z = np.full((1, 200), -0.0)
    assert not np.signbit(np.sum(Z, axis=-1)[0])
    assert np.signbit(scalar_sum(Z[0], initial=-0.0))


# --------------------------------------------------------------------------------------------
# pairwise_sum_rows
# --------------------------------------------------------------------------------------------


def test_rows_every_d_up_to_300():
    for T in SMALL_D_DATA.values():
        assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


@pytest.mark.parametrize("d", LARGE_D)
def test_rows_large_d(d):
    T = LARGE_D_DATA[d]
    assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


def test_rows_many_rows():
    T = wide_rows(7, 5000, 77)
    assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


@pytest.mark.parametrize("d", [0, 1, 5, 8, 200])
def test_rows_zero_rows_and_zero_width(d):
    got = pairwise_sum_rows(np, np.zeros((0, d)))
    assert got.shape == (0,) and got.dtype == np.float64
    if d == 0:
        T = np.zeros((3, 0))
        assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


@pytest.mark.parametrize("d", [1, 7, 8, 9, 128, 200])
def test_rows_negative_zeros_sum_to_plus_zero(d):
    T = np.full((2, d), -0.0)
    T[1, 0] = 0.0
    assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rows_any_layout_sums_in_column_order(layout):
    """Any memory layout is summed in the pairwise order of its columns (= np.sum of a C copy)."""
    T = wide_rows(3, 40, 150)
    assert_bits_equal(pairwise_sum_rows(np, with_layout(T, layout)), np.sum(T, axis=-1))


def test_rows_restricted_namespace():
    """Only xp.zeros / xp.float64 and array methods are needed (no xp.sum, whose order is CuPy's own)."""
    xp = types.SimpleNamespace(zeros=np.zeros, float64=np.float64)
    for d in (3, 100, 300):
        T = wide_rows(d, 4, d)
        assert_bits_equal(pairwise_sum_rows(xp, T), np.sum(T, axis=-1))


def test_rows_rejects_bad_input():
    with pytest.raises(ValueError):
        pairwise_sum_rows(np, np.zeros(5))
    with pytest.raises(TypeError):
        pairwise_sum_rows(np, np.zeros((2, 5), dtype=np.float32))


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 20), st.integers(0, 700)),
        elements=st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    )
)
def test_rows_property_hypothesis_values(T):
    """Hypothesis's own values (subnormals, signed zeros, repeats); bounded so that no sum overflows."""
    assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


@given(st.integers(1, 20), st.integers(1, 700), st.integers(0, 2**32 - 1), st.integers(0, 16))
def test_rows_property_wide_random(rows, d, seed, decades):
    """Dense random rows spanning up to 2 x 16 decades, at every shape up to 20 x 700."""
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((rows, d)) * 10.0 ** rng.uniform(-decades, decades, (rows, d))
    assert_bits_equal(pairwise_sum_rows(np, T), np.sum(T, axis=-1))


# --------------------------------------------------------------------------------------------
# exact_sq_distances_pairwise
# --------------------------------------------------------------------------------------------


def reference_distances(Q, R, qi, ri):
    return np.sum((Q[qi].astype(np.float64) - R[ri].astype(np.float64)) ** 2, axis=-1)


def random_case(seed, n, m, d, dtype, pairs=200):
    rng = np.random.default_rng(seed)
    Q = (rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 3, (n, d))).astype(dtype)
    R = (rng.standard_normal((m, d)) * 10.0 ** rng.uniform(-3, 3, (m, d))).astype(dtype)
    qi = rng.integers(0, n, pairs)
    ri = rng.integers(0, m, pairs)
    return Q, R, qi, ri


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 2, 7, 8, 9, 64, 129, 300, 1000])
def test_distances_match_numpy(dtype, d):
    Q, R, qi, ri = random_case(d, 30, 25, d, dtype)
    got = exact_sq_distances_pairwise(np, Q, R, qi, ri)
    want = reference_distances(Q, R, qi, ri)
    assert_bits_equal(got, want)
    if d == 300:  # the data tells the pairwise order from the sequential one
        terms = (Q[qi].astype(np.float64) - R[ri].astype(np.float64)) ** 2
        assert not np.array_equal(bits(sequential_rows(terms)), bits(want))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distances_any_layout(layout, dtype):
    """Strided (X[::2], X[:, ::2]), Fortran-ordered and negative-stride inputs all work, unchanged."""
    Q, R, qi, ri = random_case(11, 20, 15, 150, dtype)
    got = exact_sq_distances_pairwise(np, with_layout(Q, layout), with_layout(R, layout), qi, ri)
    assert_bits_equal(got, reference_distances(Q, R, qi, ri))


def test_distances_column_slice_view():
    Q, R, qi, ri = random_case(12, 20, 15, 300, np.float64)
    got = exact_sq_distances_pairwise(np, Q[:, ::2], R[:, ::2], qi, ri)
    assert_bits_equal(got, reference_distances(np.ascontiguousarray(Q[:, ::2]), R[:, ::2], qi, ri))


def test_distances_in_chunks(monkeypatch):
    """A tiny scratch budget splits the pairs into many chunks, with the same result."""
    Q, R, qi, ri = random_case(13, 30, 25, 100, np.float32, pairs=500)
    want = reference_distances(Q, R, qi, ri)
    monkeypatch.setattr(pw, "SCRATCH_BYTES", 3 * 8 * 100 * 7)  # 7 pairs per chunk
    assert_bits_equal(exact_sq_distances_pairwise(np, Q, R, qi, ri), want)
    monkeypatch.setattr(pw, "SCRATCH_BYTES", 1)  # 1 pair per chunk
    assert_bits_equal(exact_sq_distances_pairwise(np, Q, R, qi, ri), want)


@pytest.mark.parametrize("d", [0, 1, 200])
def test_distances_no_pairs(d):
    Q, R, _, _ = random_case(14, 5, 4, d, np.float32)
    empty = np.zeros(0, dtype=np.int64)
    got = exact_sq_distances_pairwise(np, Q, R, empty, empty)
    assert got.shape == (0,) and got.dtype == np.float64


def test_distances_zero_width():
    Q, R = np.zeros((3, 0)), np.zeros((2, 0))
    got = exact_sq_distances_pairwise(np, Q, R, [0, 2], [1, 1])
    assert_bits_equal(got, np.zeros(2))


def test_distances_identical_rows_are_plus_zero():
    Q, R, qi, _ = random_case(15, 10, 10, 50, np.float64)
    got = exact_sq_distances_pairwise(np, Q, Q, qi, qi)
    assert_bits_equal(got, np.zeros(qi.size))


def test_distances_restricted_namespace():
    xp = types.SimpleNamespace(zeros=np.zeros, empty=np.empty, asarray=np.asarray, float64=np.float64)
    Q, R, qi, ri = random_case(16, 30, 25, 257, np.float32)
    assert_bits_equal(exact_sq_distances_pairwise(xp, Q, R, qi, ri), reference_distances(Q, R, qi, ri))


def test_distances_reject_bad_input():
    Q = np.zeros((3, 4))
    with pytest.raises(ValueError):
        exact_sq_distances_pairwise(np, Q, np.zeros((3, 5)), [0], [0])
    with pytest.raises(ValueError):
        exact_sq_distances_pairwise(np, Q, Q, [0, 1], [0])
    with pytest.raises(ValueError):
        exact_sq_distances_pairwise(np, Q[0], Q, [0], [0])


@given(
    st.sampled_from([np.float32, np.float64]),
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(1, 300),
    st.integers(0, 40),
    st.integers(0, 2**32 - 1),
)
def test_distances_property(dtype, n, m, d, pairs, seed):
    rng = np.random.default_rng(seed)
    Q = (rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-6, 6, (n, d))).astype(dtype)
    R = (rng.standard_normal((m, d)) * 10.0 ** rng.uniform(-6, 6, (m, d))).astype(dtype)
    qi = rng.integers(0, n, pairs)
    ri = rng.integers(0, m, pairs)
    assert_bits_equal(exact_sq_distances_pairwise(np, Q, R, qi, ri), reference_distances(Q, R, qi, ri))
