"""Fidelity metrics (PRDC, improved precision/recall, alpha-precision / beta-coverage / authenticity)
against the brute-force float64 references of tests/reference_fidelity.py, plus analytic expectations.

Reference intervals.  On arbitrary float data the references run in tolerant mode: a ball test whose two
sides are different float64 numbers within ``rf.dist_rtol(d)`` (~1e-14 relative) of each other may go
either way (another summation order of the same distance may invert it), and each metric must lie in the
resulting interval [lo, hi] (plus 1e-12 for the final division).  Everything else, exact ties between
identical rows included, must agree.  On lattice data (``rf.lattice_sets``, every sum of squares exact)
the references run in exact mode and lo == hi.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import genmetrics as gm
import reference_fidelity as rf
from conftest import LAYOUTS, with_layout

K_ = r"\bk\b"
REAL_ = r"\breal\b"
FAKE_ = r"\bfake\b"
TOL = 1e-12


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def assert_in(got, interval, what, rel=TOL):
    lo, hi = interval
    got = float(got)
    slack = rel * max(1.0, abs(lo), abs(hi))
    assert lo - slack <= got <= hi + slack, f"{what} = {got!r}, reference {lo!r} .. {hi!r}"


def assert_curve_in(got, interval, what, rel=TOL):
    lo, hi = interval
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == lo.shape, f"{what}: shape {got.shape} != {lo.shape}"
    bad = np.flatnonzero((got < lo - rel) | (got > hi + rel))
    if bad.size:
        a = int(bad[0])
        raise AssertionError(f"{what}[{a}] = {got[a]!r}, reference {lo[a]!r} .. {hi[a]!r} ({bad.size} entries out)")


def quiet(fn, *args, **kwargs):
    """Call fn with DuplicatePointsWarning silenced; return (result, list of such warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    dup = [w for w in caught if issubclass(w.category, gm.DuplicatePointsWarning)]
    others = [w for w in caught if not issubclass(w.category, gm.DuplicatePointsWarning)]
    assert not others, f"unexpected warnings: {[str(w.message) for w in others]}"
    return out, dup


def unchanged(fn, arrays, *args, **kwargs):
    """Call fn and check that none of ``arrays`` was modified in place."""
    before = [np.array(A, copy=True) for A in arrays]
    out = fn(*args, **kwargs)
    for b, a in zip(before, arrays):
        assert np.array_equal(a, b), f"{getattr(fn, '__name__', fn)} modified its input"
    return out


def check_result_object(res, scalar_fields, array_fields=()):
    """Frozen, picklable, as_dict() holding every field with the same value."""
    assert dataclasses.is_dataclass(res)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(res, scalar_fields[0], 0.5)
    d = res.as_dict()
    assert isinstance(d, dict)
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is type(res)
    for f in scalar_fields:
        v = getattr(res, f)
        assert f in d, f"as_dict() lacks {f}"
        assert d[f] == v or (isinstance(v, float) and math.isnan(v) and math.isnan(d[f])), f
        assert getattr(back, f) == v, f
    for f in array_fields:
        v = np.asarray(getattr(res, f))
        assert f in d, f"as_dict() lacks {f}"
        assert np.array_equal(np.asarray(d[f]), v), f
        assert np.array_equal(np.asarray(getattr(back, f)), v), f
    return d


def draw_k(data, k_max):
    return data.draw(st.one_of(st.just(k_max), st.just(1), st.integers(1, k_max)), label="k")


@st.composite
def real_fake(draw, min_n=2, max_n=30, max_d=8):
    """real (n, d) and fake (m, d), n != m in general, each with possible duplicate rows, some fake rows
    possibly exact copies of real rows (distance 0: the boundary cases of every ball test)."""
    real = draw(rf.point_sets(min_n=min_n, max_n=max_n, max_d=max_d), label="real")
    fake = draw(rf.point_sets(d=real.shape[1], min_n=min_n, max_n=max_n), label="fake")
    if draw(st.booleans(), label="copy real rows into fake"):
        fake = fake.copy()
        for _ in range(draw(st.integers(1, fake.shape[0]))):
            fake[draw(st.integers(0, fake.shape[0] - 1))] = real[draw(st.integers(0, real.shape[0] - 1))]
    return real, fake


@st.composite
def lattice_real_fake(draw, ns=None, min_n=2, max_n=30):
    params = draw(rf.lattice_params(), label="lattice")
    if ns is None:
        real = draw(rf.lattice_sets(params, min_n=min_n, max_n=max_n), label="real")
        fake = draw(rf.lattice_sets(params, d=real.shape[1], min_n=min_n, max_n=max_n), label="fake")
    else:
        real = draw(rf.lattice_sets(params, n=draw(st.sampled_from(ns))), label="real")
        fake = draw(rf.lattice_sets(params, n=draw(st.sampled_from(ns)), d=real.shape[1]), label="fake")
    return real, fake


def gaussian(n, d, seed, shift=0.0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


# ============================================================================================
# PRDC
# ============================================================================================

PRDC_FIELDS = ("precision", "recall", "density", "coverage")


def check_prdc(res, ref, k, n, m, inclusive):
    for f in PRDC_FIELDS:
        assert isinstance(getattr(res, f), float), f"{f} is {type(getattr(res, f)).__name__}, not float"
        assert_in(getattr(res, f), ref[f], f"prdc {f} (k={k}, inclusive={inclusive})")
    assert (res.k, res.n_real, res.n_fake, res.inclusive) == (k, n, m, inclusive)


@given(data=st.data())
def test_prdc_matches_reference(backend, data):
    real, fake = data.draw(real_fake(), label="sets")
    n, m = real.shape[0], fake.shape[0]
    k = draw_k(data, min(n, m) - 1)
    inclusive = data.draw(st.booleans(), label="inclusive")
    realL = with_layout(real, data.draw(st.sampled_from(LAYOUTS), label="real layout"))
    fakeL = with_layout(fake, data.draw(st.sampled_from(LAYOUTS), label="fake layout"))
    res, dup = quiet(unchanged, gm.prdc, [realL, fakeL], realL, fakeL, k=k, inclusive=inclusive, backend=backend)
    ref = rf.ref_prdc(real, fake, k, inclusive, rtol=rf.dist_rtol(real.shape[1]))
    check_prdc(res, ref, k, n, m, inclusive)
    # a zero radius (k or more exact copies of a point in its own set) is exact in any summation order
    zero_radius = bool(np.any(ref["real_radii"] == 0) or np.any(ref["fake_radii"] == 0))
    assert bool(dup) == (zero_radius and not inclusive), (
        f"DuplicatePointsWarning raised: {bool(dup)}, zero radius: {zero_radius}, inclusive: {inclusive}"
    )
    assert all("inclusive=True" in str(w.message) for w in dup)


@given(data=st.data())
def test_prdc_exact_on_lattices(backend, data):
    real, fake = data.draw(lattice_real_fake(), label="sets")
    n, m = real.shape[0], fake.shape[0]
    k = draw_k(data, min(n, m) - 1)
    for inclusive in (False, True):
        res, _ = quiet(gm.prdc, real, fake, k=k, inclusive=inclusive, backend=backend)
        check_prdc(res, rf.ref_prdc(real, fake, k, inclusive), k, n, m, inclusive)


def test_prdc_result_object(backend):
    real, fake = gaussian(20, 3, 1), gaussian(15, 3, 2)
    res = gm.prdc(real, fake, k=4, backend=backend)
    d = check_result_object(res, PRDC_FIELDS + ("k", "n_real", "n_fake", "inclusive"))
    assert set(PRDC_FIELDS) <= set(d)
    assert (res.k, res.n_real, res.n_fake, res.inclusive) == (4, 20, 15, False)


def test_prdc_default_k_is_5(backend):
    real, fake = gaussian(20, 3, 1), gaussian(15, 3, 2)
    res = gm.prdc(real, fake, backend=backend)
    assert res.k == 5
    check_prdc(res, rf.ref_prdc(real, fake, 5), 5, 20, 15, False)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_identical_sets_without_duplicates(backend, k):
    """real == fake, all points distinct: each y_j is x_j (distance 0 < r_j), so precision = recall =
    coverage = 1; the k - 1 points strictly inside each ball plus the point itself give density exactly
    1 with <, and (k + 1) / k with <= (the k-th neighbour sits exactly on the sphere: the same pair of
    rows, so the same float64 distance, whichever function computes it)."""
    real = gaussian(200, 5, 11)
    fake = real.copy()
    res, dup = quiet(gm.prdc, real, fake, k=k, backend=backend)
    assert not dup
    assert (res.precision, res.recall, res.coverage, res.density) == (1.0, 1.0, 1.0, 1.0)
    res, dup = quiet(gm.prdc, real, fake, k=k, inclusive=True, backend=backend)
    assert not dup
    assert (res.precision, res.recall, res.coverage) == (1.0, 1.0, 1.0)
    assert res.density == pytest.approx((k + 1) / k, rel=1e-14)


@pytest.mark.parametrize(
    "k, inclusive, density",
    [
        (1, False, 0.0),
        (1, True, 2.0),
        (2, False, 1.0),
        (2, True, 2.0),
        (3, False, 2.0 / 3.0),
        (3, True, 4.0 / 3.0),
    ],
)
def test_prdc_identical_sets_every_point_twice(backend, k, inclusive, density):
    """real == fake == every point of a Gaussian sample twice.

    k = 1: every radius is 0 (the twin); with < no ball holds anything: all four metrics are exactly 0 and
    a DuplicatePointsWarning says so; with <= each y_j lies in the two balls of its value (density 2).
    k = 2: the radius is the distance delta to the nearest other value; with < a ball holds only its two
    copies (density 2 / 2), with <= also both copies of the nearest other value, whose count over the
    set equals the number of values (density (2 + 2) * V * 2 / (2 * 2V) = 2).  k = 3: the same radius
    (the third neighbour is the second copy of the nearest value): 2 / 3 and 4 / 3.
    """
    A = gaussian(60, 4, 5)
    real = np.concatenate([A, A])
    fake = real[::-1].copy()  # same multiset, different order
    res, dup = quiet(gm.prdc, real, fake, k=k, inclusive=inclusive, backend=backend)
    ref = rf.ref_prdc(real, fake, k, inclusive)
    assert ref["density"][0] == pytest.approx(density, rel=1e-14)  # the reasoning above, and the reference
    check_prdc(res, ref, k, 120, 120, inclusive)
    expected = 0.0 if (k == 1 and not inclusive) else 1.0
    assert (res.precision, res.recall, res.coverage) == (expected,) * 3
    assert res.density == pytest.approx(density, rel=1e-14, abs=0.0)
    if k == 1 and not inclusive:
        assert dup, "no DuplicatePointsWarning although every radius is 0"
        assert all("inclusive=True" in str(w.message) for w in dup)
        assert issubclass(gm.DuplicatePointsWarning, UserWarning)
    else:
        assert not dup


def test_prdc_duplicate_warning_is_a_user_warning(backend):
    real = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    fake = gaussian(6, 2, 3)
    with pytest.warns(gm.DuplicatePointsWarning, match=r"inclusive=True"):
        gm.prdc(real, fake, k=1, backend=backend)
    with pytest.warns(UserWarning):
        gm.prdc(real, fake, k=1, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all with <= balls, or with k past the copies
        gm.prdc(real, fake, k=1, inclusive=True, backend=backend)
        gm.prdc(real, fake, k=2, backend=backend)


@pytest.mark.parametrize("n, m, k", [(1000, 1000, 5), (600, 1200, 3)])
def test_prdc_same_distribution(backend, n, m, k):
    """real and fake drawn iid from one Gaussian (d = 8): E[density] = 1, E[coverage] =
    1 - C(n-1,k)/C(n-1+m,k) (METRICS.md).  Tolerances are about 5 standard deviations (measured over
    20 seeds with the reference at n = m = 1000: sd(density) ~ 0.025, sd(coverage) ~ 0.0045)."""
    real, fake = gaussian(n, 8, 100 + n), gaussian(m, 8, 200 + m)
    res = gm.prdc(real, fake, k=k, backend=backend)
    assert abs(res.density - 1.0) < 0.13, res
    assert abs(res.coverage - rf.prdc_expected_coverage(n, m, k)) < 0.025, res
    assert 0.85 < res.precision <= 1.0 and 0.85 < res.recall <= 1.0, res


def test_prdc_disjoint_distributions(backend):
    real, fake = gaussian(300, 8, 1), gaussian(200, 8, 2, shift=100.0)
    res = gm.prdc(real, fake, k=5, backend=backend)
    assert (res.precision, res.recall, res.density, res.coverage) == (0.0, 0.0, 0.0, 0.0)


def test_prdc_across_tiles(backend):
    """Sizes past the engine's tile edges, on an integer lattice (exact ties everywhere)."""
    rng = np.random.default_rng(5)
    real = rng.integers(-3, 4, size=(700, 3)).astype(np.float32)
    fake = rng.integers(-3, 4, size=(1100, 3)).astype(np.float64) + 0.5 * rng.integers(0, 2, size=(1100, 3))
    for inclusive in (False, True):
        res, _ = quiet(gm.prdc, real, fake, k=7, inclusive=inclusive, backend=backend)
        check_prdc(res, rf.ref_prdc(real, fake, 7, inclusive), 7, 700, 1100, inclusive)


# ---- bad input ----


@pytest.mark.parametrize("fname", ["prdc", "precision_recall"])
@pytest.mark.parametrize("n, m, k", [(10, 8, 0), (10, 8, -1), (10, 8, 8), (10, 8, 9), (6, 10, 6), (2, 2, 2)])
def test_k_out_of_range(backend, fname, n, m, k):
    with pytest.raises(ValueError, match=K_):
        getattr(gm, fname)(gaussian(n, 3, 1), gaussian(m, 3, 2), k=k, backend=backend)


@pytest.mark.parametrize("fname", ["prdc", "precision_recall"])
@pytest.mark.parametrize("k", [2.0, 1.5, "3", None, True])
def test_k_wrong_type(backend, fname, k):
    with pytest.raises((TypeError, ValueError), match=K_):
        getattr(gm, fname)(gaussian(10, 3, 1), gaussian(8, 3, 2), k=k, backend=backend)


@pytest.mark.parametrize("fname", ["prdc", "precision_recall"])
def test_k_largest_legal(backend, fname):
    """k = min(n, m) - 1 is legal (n != m both ways) and gives the reference's answer."""
    for n, m in ((7, 4), (4, 7)):
        real, fake = gaussian(n, 3, n), gaussian(m, 3, 10 + m)
        res = getattr(gm, fname)(real, fake, k=3, backend=backend)
        ref = rf.ref_prdc(real, fake, 3) if fname == "prdc" else rf.ref_precision_recall(real, fake, 3)
        assert_in(res.precision, ref["precision"], f"{fname} precision")
        assert_in(res.recall, ref["recall"], f"{fname} recall")


ALL_PAIR_FUNCS = {
    "prdc": lambda r, f, **kw: gm.prdc(r, f, k=2, **kw),
    "precision_recall": lambda r, f, **kw: gm.precision_recall(r, f, k=2, **kw),
    "alpha_precision": lambda r, f, **kw: gm.alpha_precision(r, f, **kw),
}


@pytest.mark.parametrize("fname", sorted(ALL_PAIR_FUNCS))
def test_mismatched_feature_dimensions(backend, fname):
    with pytest.raises(ValueError, match=r"\b(real|fake)\b"):
        ALL_PAIR_FUNCS[fname](gaussian(10, 3, 1), gaussian(8, 4, 2), backend=backend)


@pytest.mark.parametrize("fname", sorted(ALL_PAIR_FUNCS))
@pytest.mark.parametrize("where", ["real", "fake"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(backend, fname, where, bad):
    real, fake = gaussian(10, 3, 1), gaussian(8, 3, 2)
    (real if where == "real" else fake)[3, 1] = bad
    with pytest.raises(ValueError, match=rf"\b{where}\b"):
        ALL_PAIR_FUNCS[fname](real, fake, backend=backend)
    with pytest.raises(ValueError, match=rf"\b{where}\b"):
        ALL_PAIR_FUNCS[fname](real.astype(np.float32), fake.astype(np.float32), backend=backend)


@pytest.mark.parametrize("fname", sorted(ALL_PAIR_FUNCS))
@pytest.mark.parametrize("bad", [np.array([["a", "b", "c"]] * 10), np.ones((10, 3), dtype=complex), None])
def test_wrong_array_types(backend, fname, bad):
    good_real, good_fake = gaussian(10, 3, 1), gaussian(8, 3, 2)
    with pytest.raises((TypeError, ValueError), match=REAL_):
        ALL_PAIR_FUNCS[fname](bad, good_fake, backend=backend)
    with pytest.raises((TypeError, ValueError), match=FAKE_):
        ALL_PAIR_FUNCS[fname](good_real, bad if bad is None else bad[:8], backend=backend)


@pytest.mark.parametrize("fname", sorted(ALL_PAIR_FUNCS))
def test_plain_lists_and_integers_are_accepted(backend, fname):
    """Integer arrays and nested lists are embeddings like any other (converted to float64)."""
    real = np.random.default_rng(1).integers(-3, 4, size=(12, 2))
    fake = np.random.default_rng(2).integers(-3, 4, size=(9, 2))
    a = ALL_PAIR_FUNCS[fname](real.tolist(), fake.tolist(), backend=backend)
    b = ALL_PAIR_FUNCS[fname](real.astype(np.float64), fake.astype(np.float64), backend=backend)
    for f in (
        "precision",
        "recall",
        "density",
        "coverage",
        "delta_precision_alpha",
        "delta_coverage_beta",
        "authenticity",
    ):
        if hasattr(b, f):
            assert getattr(a, f) == getattr(b, f), f


@pytest.mark.parametrize("fname", sorted(ALL_PAIR_FUNCS))
def test_not_two_dimensional(backend, fname):
    with pytest.raises(ValueError, match=REAL_):
        ALL_PAIR_FUNCS[fname](gaussian(10, 3, 1)[:, 0], gaussian(8, 3, 2), backend=backend)
    with pytest.raises(ValueError, match=FAKE_):
        ALL_PAIR_FUNCS[fname](gaussian(10, 3, 1), gaussian(8, 3, 2)[None], backend=backend)


# ============================================================================================
# improved precision & recall
# ============================================================================================


def check_pr(res, ref, k, n, m, realism_rel=1e-6):
    assert_in(res.precision, ref["precision"], f"precision (k={k})")
    assert_in(res.recall, ref["recall"], f"recall (k={k})")
    assert (res.k, res.n_real, res.n_fake) == (k, n, m)
    realism = np.asarray(res.realism)
    assert realism.dtype == np.float64 and realism.shape == (m,)
    lo, hi = ref["realism"]
    inf = np.isinf(lo) & np.isinf(hi) & (lo > 0)
    assert np.array_equal(np.isposinf(realism) & inf, inf), "realism must be inf where the distance is 0"
    fin = ~inf
    ok = (realism[fin] >= lo[fin] * (1 - realism_rel)) & (realism[fin] <= hi[fin] * (1 + realism_rel))
    if not np.all(ok):
        j = int(np.flatnonzero(fin)[np.flatnonzero(~ok)[0]])
        raise AssertionError(f"realism[{j}] = {realism[j]!r}, reference {lo[j]!r} .. {hi[j]!r}")


@given(data=st.data())
def test_precision_recall_matches_reference(backend, data):
    real, fake = data.draw(real_fake(), label="sets")
    n, m = real.shape[0], fake.shape[0]
    k = draw_k(data, min(n, m) - 1)
    res, dup = quiet(unchanged, gm.precision_recall, [real, fake], real, fake, k=k, backend=backend)
    assert not dup, "precision_recall uses closed balls: no DuplicatePointsWarning"
    check_pr(res, rf.ref_precision_recall(real, fake, k, rtol=rf.dist_rtol(real.shape[1])), k, n, m)


@given(data=st.data())
def test_precision_recall_exact_on_lattices(backend, data):
    real, fake = data.draw(lattice_real_fake(), label="sets")
    n, m = real.shape[0], fake.shape[0]
    k = draw_k(data, min(n, m) - 1)
    res, _ = quiet(gm.precision_recall, real, fake, k=k, backend=backend)
    check_pr(res, rf.ref_precision_recall(real, fake, k), k, n, m)


def test_precision_recall_realism_near_duplicates(backend):
    """Real points in pairs 1e-9 apart (radii ~1e-9, a distance far below the rounding of any
    |x|^2 + |y|^2 - 2 x.y evaluation at norms ~10): the maximising ball must be chosen on float64
    distances too.  fake = some real points (+ 1e-12): realism inf where the copied point's radius is
    below the median, else ~ r / 1e-12, never the ratio of some far ball."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(100, 4)) * 10
    real = np.concatenate([A, A + 1e-9 * rng.normal(size=A.shape)])
    for fake in (real[:50].copy(), real[:50] + 1e-12, real[150:] - 3e-10):
        res, _ = quiet(gm.precision_recall, real, fake, k=1, backend=backend)
        check_pr(res, rf.ref_precision_recall(real, fake, 1, rtol=rf.dist_rtol(4)), 1, 200, 50)


def test_precision_recall_defaults_and_result_object(backend):
    real, fake = gaussian(40, 4, 1), gaussian(30, 4, 2)
    res = gm.precision_recall(real, fake, backend=backend)
    assert res.k == 3
    check_pr(res, rf.ref_precision_recall(real, fake, 3), 3, 40, 30)
    check_result_object(res, ("precision", "recall", "k", "n_real", "n_fake"), ("realism",))


def test_precision_recall_balls_are_closed(backend):
    """real == fake, every point twice, k = 1: radii 0, and with <= every point is in its own ball (the
    PRDC of the same data with < is all zeros)."""
    A = gaussian(30, 3, 9)
    real = np.concatenate([A, A])
    res = gm.precision_recall(real, real.copy(), k=1, backend=backend)
    assert (res.precision, res.recall) == (1.0, 1.0)
    assert np.all(np.isposinf(res.realism))  # every fake sample is at distance 0 of a real one
    far = gm.precision_recall(real, real + 1000.0, k=1, backend=backend)
    assert (far.precision, far.recall) == (0.0, 0.0)


def test_precision_recall_realism_small_example(backend):
    """Radii by hand.  Real on a line at 0, 1, 3, 7: k = 1 radii 1, 1, 2, 4, median 1.5, so only the points
    at 0 and 1 enter the realism score.  Fake at 0.5, 11, 1: radii 0.5, 10, 0.5.
    realism: 0.5 -> max(1/0.5, 1/0.5) = 2; 11 -> max(1/11, 1/10) = 0.1; 1 -> distance 0 to x1: inf.
    precision: 11 is at exactly 4 = r of the point 7: inside the closed ball (and outside the open ball
    of PRDC, whose precision is 2/3 on the same data); recall: 0 is at exactly 0.5 of the fake 0.5."""
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[0.5], [11.0], [1.0]])
    res = gm.precision_recall(real, fake, k=1, backend=backend)
    assert res.realism[:2].tolist() == pytest.approx([2.0, 0.1], rel=1e-12)
    assert res.realism[2] == math.inf
    assert (res.precision, res.recall) == (1.0, 1.0)
    strict = gm.prdc(real, fake, k=1, backend=backend)
    assert strict.precision == pytest.approx(2 / 3, rel=1e-15)
    # recall with <: 0 (0.5 < 0.5 no), 1 (0 < 0.5), 3 (8 < 10), 7 (4 < 10): 3/4
    assert strict.recall == 0.75


# ============================================================================================
# alpha-precision, beta-coverage, authenticity
# ============================================================================================

AP_SCALARS = ("delta_precision_alpha", "delta_coverage_beta", "authenticity", "integration")
AP_ARRAYS = ("alphas", "alpha_precision_curve", "beta_coverage_curve")


def check_ap(res, ref, integration):
    assert np.allclose(res.alphas, ref["alphas"], rtol=0, atol=1e-15)
    assert_curve_in(res.alpha_precision_curve, ref["alpha_precision_curve"], "alpha_precision_curve")
    assert_curve_in(res.beta_coverage_curve, ref["beta_coverage_curve"], "beta_coverage_curve")
    assert_in(res.delta_precision_alpha, ref["delta_precision_alpha"], f"delta_precision_alpha ({integration})")
    assert_in(res.delta_coverage_beta, ref["delta_coverage_beta"], f"delta_coverage_beta ({integration})")
    assert_in(res.authenticity, ref["authenticity"], "authenticity")
    assert res.integration == integration


@given(data=st.data())
def test_alpha_precision_matches_reference(backend, data):
    real, fake = data.draw(real_fake(), label="sets")
    n_alphas = data.draw(st.sampled_from([2, 3, 11, 30]), label="n_alphas")
    integration = data.draw(st.sampled_from(["trapezoid", "original", "synthcity"]), label="integration")
    center = None
    if data.draw(st.booleans(), label="center given"):
        center = data.draw(rf.point_sets(n=1, d=real.shape[1], dtype=np.float64, duplicates=False))[0]
    ref = rf.ref_alpha_precision(
        real, fake, n_alphas, center=center, integration=integration, rtol=rf.dist_rtol(real.shape[1])
    )
    assume(not ref["nearest_ambiguous"])
    arrays = [real, fake] + ([] if center is None else [center])
    res, dup = quiet(
        unchanged,
        gm.alpha_precision,
        arrays,
        real,
        fake,
        n_alphas=n_alphas,
        center=center,
        integration=integration,
        backend=backend,
    )
    assert not dup
    check_ap(res, ref, integration)


@given(data=st.data())
def test_alpha_precision_exact_on_lattices(backend, data):
    """Sizes that are powers of two, so that both centres (means) are exact too: then every decision,
    the ties at the quantiles included, is determined."""
    real, fake = data.draw(lattice_real_fake(ns=[2, 4, 8, 16, 32]), label="sets")
    integration = data.draw(st.sampled_from(["trapezoid", "original", "synthcity"]), label="integration")
    res = gm.alpha_precision(real, fake, integration=integration, backend=backend)
    check_ap(res, rf.ref_alpha_precision(real, fake, integration=integration), integration)


def test_alpha_precision_result_object_and_defaults(backend):
    real, fake = gaussian(40, 3, 1), gaussian(25, 3, 2)
    res = gm.alpha_precision(real, fake, backend=backend)
    assert res.integration == "trapezoid"
    assert np.array_equal(res.alphas, np.linspace(0, 1, 30))
    assert res.alpha_precision_curve.shape == (30,) and res.beta_coverage_curve.shape == (30,)
    check_ap(res, rf.ref_alpha_precision(real, fake, rtol=rf.dist_rtol(3)), "trapezoid")
    check_result_object(res, AP_SCALARS, AP_ARRAYS)


@pytest.mark.parametrize("n, m", [(50, 20), (20, 50), (33, 34)])
def test_alpha_precision_sizes_differ(backend, n, m):
    """n != m (the original code indexed real radii by fake indices, which forced n = m)."""
    real, fake = gaussian(n, 4, n), gaussian(m, 4, 1000 + m, shift=0.3)
    res = gm.alpha_precision(real, fake, backend=backend)
    check_ap(res, rf.ref_alpha_precision(real, fake, rtol=rf.dist_rtol(4)), "trapezoid")
    assert gm.authenticity(real, fake, backend=backend) == res.authenticity


def test_alpha_precision_integrations_agree_with_their_formulas(backend):
    real, fake = gaussian(64, 3, 4), gaussian(48, 3, 5, shift=0.5)
    curves = {}
    for integration in ("trapezoid", "original", "synthcity"):
        res = gm.alpha_precision(real, fake, integration=integration, backend=backend)
        check_ap(res, rf.ref_alpha_precision(real, fake, integration=integration, rtol=rf.dist_rtol(3)), integration)
        curves[integration] = (res.alpha_precision_curve, res.delta_precision_alpha)
        # the integral of the curve the function returned, by the documented formula
        alphas = res.alphas
        dev = np.abs(res.alpha_precision_curve - alphas)
        if integration == "trapezoid":
            want = 1 - 2 * getattr(np, "trapezoid", getattr(np, "trapz", None))(dev, alphas)  # trapz: NumPy < 2
        elif integration == "original":
            want = 1 - 2 * np.sum(dev) * (alphas[1] - alphas[0])
        else:
            want = 1 - np.sum(dev) / np.sum(alphas)
        assert res.delta_precision_alpha == pytest.approx(want, rel=1e-12, abs=1e-14)
    # the curve does not depend on how it is integrated
    assert np.array_equal(curves["trapezoid"][0], curves["original"][0])
    assert np.array_equal(curves["trapezoid"][0], curves["synthcity"][0])


def test_alpha_precision_identical_sets(backend):
    """real == fake (distinct points): every fake point is a copy of a real one, so it is unauthentic
    (authenticity 0); each real point's nearest fake is its own copy (distance 0 <= rho), both centres
    coincide, and the beta-coverage curve equals the alpha-precision curve; the curve is 1 at alpha = 1
    and 1/n at alpha = 0 (only the copy of the innermost point is within the 0-quantile)."""
    real = gaussian(64, 5, 21)
    fake = real.copy()
    res = gm.alpha_precision(real, fake, backend=backend)
    assert res.authenticity == 0.0
    assert np.array_equal(res.alpha_precision_curve, res.beta_coverage_curve)
    assert res.alpha_precision_curve[-1] == 1.0
    assert res.alpha_precision_curve[0] == 1.0 / 64
    check_ap(res, rf.ref_alpha_precision(real, fake), "trapezoid")
    assert res.delta_precision_alpha > 0.9 and res.delta_coverage_beta > 0.9


def test_alpha_precision_far_away_fake(backend):
    """Fake far from real: nothing inside any real quantile ball (curve 0, Delta = 1 - 2 * 1/2 = 0 with the
    trapezoid, exact for a linear integrand), no real point is covered, and every fake point is
    authentic."""
    real, fake = gaussian(40, 3, 1), gaussian(30, 3, 2, shift=1000.0)
    res = gm.alpha_precision(real, fake, backend=backend)
    assert np.all(res.alpha_precision_curve == 0) and np.all(res.beta_coverage_curve == 0)
    assert res.delta_precision_alpha == pytest.approx(0.0, abs=1e-14)
    assert res.delta_coverage_beta == pytest.approx(0.0, abs=1e-14)
    assert res.authenticity == 1.0
    res = gm.alpha_precision(real, fake, integration="synthcity", backend=backend)
    assert res.delta_precision_alpha == pytest.approx(0.0, abs=1e-14)  # 1 - sum(alphas) / sum(alphas)


def test_alpha_precision_center_and_embedding(backend):
    """The embedding is applied to both sets first; the centre is a point of the embedded space."""
    rng = np.random.default_rng(8)
    W = rng.normal(size=(6, 3))
    calls = []

    def embed(A):
        calls.append(np.asarray(A).shape)
        return np.tanh(np.asarray(A) @ W)

    real, fake = gaussian(40, 6, 3), gaussian(30, 6, 4, shift=0.2)
    center = np.array([0.1, -0.2, 0.3])
    res = gm.alpha_precision(real, fake, embedding=embed, center=center, backend=backend)
    assert (40, 6) in calls and (30, 6) in calls
    ref = rf.ref_alpha_precision(real, fake, embedding=embed, center=center, rtol=rf.dist_rtol(3))
    check_ap(res, ref, "trapezoid")
    pre = gm.alpha_precision(embed(real), embed(fake), center=center, backend=backend)
    for f in ("delta_precision_alpha", "delta_coverage_beta", "authenticity"):
        assert getattr(pre, f) == pytest.approx(getattr(res, f), rel=1e-12, abs=1e-15)
    # the centre matters: the default (mean of the embedded real set) gives the reference's other answer
    res0 = gm.alpha_precision(real, fake, embedding=embed, backend=backend)
    check_ap(res0, rf.ref_alpha_precision(real, fake, embedding=embed, rtol=rf.dist_rtol(3)), "trapezoid")


def test_alpha_precision_center_moves_the_curve(backend):
    real, fake = gaussian(50, 2, 1), gaussian(50, 2, 2)
    far = np.array([50.0, 0.0])
    res = gm.alpha_precision(real, fake, center=far, backend=backend)
    check_ap(res, rf.ref_alpha_precision(real, fake, center=far, rtol=rf.dist_rtol(2)), "trapezoid")


# ---- authenticity ----


def test_authenticity_near_copies(backend):
    """fake = train + 1e-6 noise: each fake point's nearest train point is its origin, far closer than that
    point's nearest other train point: authenticity 0."""
    train = gaussian(500, 8, 31)
    fake = train + 1e-6 * np.random.default_rng(32).normal(size=train.shape)
    a = gm.authenticity(train, fake, backend=backend)
    assert isinstance(a, float)
    assert a == 0.0
    assert_in(a, rf.ref_authenticity(train, fake), "authenticity")
    half = gm.authenticity(train, np.concatenate([fake[:250], gaussian(250, 8, 33)]), backend=backend)
    assert 0.2 < half < 0.5  # half copies (0) and half independent draws (~0.59, see below)


def test_authenticity_independent_draws(backend):
    """Independent draws from the training distribution (d = 8): about 0.59 authentic (20 seeds of the
    reference: 0.55 .. 0.63), far from the near-copy value 0; exact value checked against the reference."""
    train, fake = gaussian(1000, 8, 41), gaussian(1000, 8, 42)
    a = gm.authenticity(train, fake, backend=backend)
    assert 0.45 < a < 0.75
    assert_in(a, rf.ref_authenticity(train, fake, rtol=rf.dist_rtol(8)), "authenticity")


@given(data=st.data())
def test_authenticity_matches_reference(backend, data):
    real, fake = data.draw(real_fake(), label="sets")
    a, dup = quiet(unchanged, gm.authenticity, [real, fake], real, fake, backend=backend)
    assert not dup
    assert_in(a, rf.ref_authenticity(real, fake, rtol=rf.dist_rtol(real.shape[1])), "authenticity")


@given(data=st.data())
def test_authenticity_exact_on_lattices(backend, data):
    real, fake = data.draw(lattice_real_fake(), label="sets")
    assert_in(gm.authenticity(real, fake, backend=backend), rf.ref_authenticity(real, fake), "authenticity")


def test_authenticity_ties(backend):
    """The nearest real point is chosen by the lower index among exact ties, and 'closer' is strict:
    train x0 = 0, x1 = 2, x2 = 4 (rho = 2, 2, 2) on a line; fake at 1 ties between x0 and x1 (both at 1 < 2:
    unauthentic), fake at -2 is at distance 2 of x0 (2 < 2 is false: authentic), fake at 3 ties x1/x2
    (1 < 2: unauthentic), fake at 6 is at 2 of x2 (authentic)."""
    train = np.array([[0.0], [2.0], [4.0]])
    fake = np.array([[1.0], [-2.0], [3.0], [6.0]])
    assert gm.authenticity(train, fake, backend=backend) == 0.5
    # x1 duplicated: its rho becomes 0, so nothing can be closer to it than 0
    train = np.array([[0.0], [2.0], [2.0], [10.0]])
    fake = np.array([[2.0], [2.5], [0.1]])
    # fake 2.0: nearest is x1 (index 1, distance 0), 0 < rho_1 = 0? no -> authentic
    # fake 2.5: nearest x1 (0.5 < 0? no) -> authentic; fake 0.1: nearest x0 (0.1 < rho_0 = 2) -> not
    assert gm.authenticity(train, fake, backend=backend) == pytest.approx(2 / 3, rel=1e-15)


# ---- bad input ----


def test_alpha_precision_bad_arguments(backend):
    real, fake = gaussian(10, 3, 1), gaussian(8, 3, 2)
    with pytest.raises(ValueError, match=r"\bcenter\b"):
        gm.alpha_precision(real, fake, center=np.zeros(4), backend=backend)
    with pytest.raises(ValueError, match=r"\bcenter\b"):
        gm.alpha_precision(real, fake, center=np.array([0.0, np.nan, 0.0]), backend=backend)
    with pytest.raises(ValueError, match=r"\bintegration\b"):
        gm.alpha_precision(real, fake, integration="simpson", backend=backend)
    for bad in (0, -3, 2.5, "30", None):
        with pytest.raises((ValueError, TypeError), match=r"\bn_alphas\b"):
            gm.alpha_precision(real, fake, n_alphas=bad, backend=backend)
    with pytest.raises(TypeError, match=r"\bembedding\b"):
        gm.alpha_precision(real, fake, embedding="tanh", backend=backend)
    with pytest.raises(ValueError, match=REAL_):
        gm.alpha_precision(real[:1], fake, backend=backend)  # a single real point has no nearest other


def test_authenticity_bad_arguments(backend):
    train, fake = gaussian(10, 3, 1), gaussian(8, 3, 2)
    with pytest.raises(ValueError, match=r"\btrain\b"):
        gm.authenticity(train[:1], fake, backend=backend)
    bad = train.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\btrain\b"):
        gm.authenticity(bad, fake, backend=backend)
    with pytest.raises(ValueError, match=FAKE_):
        gm.authenticity(train, np.full((3, 3), np.inf), backend=backend)
    with pytest.raises(ValueError, match=r"\b(train|fake)\b"):
        gm.authenticity(train, fake[:, :2], backend=backend)
