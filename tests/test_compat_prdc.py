"""Tests of the drop-in shim genmetrics.compat.prdc against the installed reference package prdc 0.2.

Oracles: the reference package itself (tests that need it are skipped, with the reason, when ``prdc`` or
its dependency scikit-learn cannot be imported) and values that follow from the definitions alone.

Tolerances. The reference decides every ``d < radius`` on distances that scikit-learn computes as
sqrt(|x|^2 + |y|^2 - 2 x.y) (in float64, then rounded to float32 for float32 input); genmetrics decides
them exactly in float64. The two can disagree only for a point on a ball's boundary, to within that
round-off, which on continuous random data happens with probability ~1e-7 per pair: one such point moves
precision by 1/m, recall and coverage by 1/n, density by 1/(k m). The tests allow exactly one such point
per number, so any formula error (<= for <, self not excluded, k off by one, radii of the wrong set,
n and m swapped) fails them. On integer-grid data every distance is exact in both, ties are exact, and
the counts behind the four numbers must be identical: that pins the strict < at ties.
"""

import importlib

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.compat import prdc as shim

KEYS = ["precision", "recall", "density", "coverage"]


@pytest.fixture(scope="module")
def ref():
    """The reference module prdc.prdc (its helpers are not re-exported by the package)."""
    pytest.importorskip("prdc", reason="the reference package prdc 0.2 (pip install prdc==0.2) is not installed")
    pytest.importorskip("sklearn", reason="prdc 0.2 needs scikit-learn, which is not installed")
    return importlib.import_module("prdc.prdc")


def reference_prdc(ref, real, fake, k, capsys=None):
    out = ref.compute_prdc(real, fake, nearest_k=k)  # prints "Num real: ... Num fake: ..."
    if capsys is not None:
        capsys.readouterr()
    return {key: float(out[key]) for key in KEYS}


def mixture_pair(n, m, d, seed):
    """Real and generated sets from overlapping but different Gaussian mixtures: every number lands
    strictly between 0 and 1 (resp. around 1 for density), so the comparison is informative."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d)) * 2.0
    real = centres[rng.integers(0, 6, n)] + rng.normal(size=(n, d))
    fake = centres[rng.integers(0, 4, m)] + 1.15 * rng.normal(size=(m, d)) + 0.2
    return real, fake


def unit_gaps(ours, theirs, n, m, k):
    """|difference| of each number in units of one boundary point."""
    units = {"precision": 1.0 / m, "recall": 1.0 / n, "density": 1.0 / (k * m), "coverage": 1.0 / n}
    return {key: abs(ours[key] - theirs[key]) / units[key] for key in KEYS}


# (n real, m generated, d, k)
SHAPES = [(300, 300, 16, 5), (400, 250, 32, 3), (200, 500, 8, 5), (250, 350, 64, 10), (150, 90, 3, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,m,d,k", SHAPES)
def test_matches_reference_up_to_one_boundary_point(ref, capsys, n, m, d, k, dtype):
    real, fake = mixture_pair(n, m, d, seed=n + m + d + k)
    real, fake = real.astype(dtype), fake.astype(dtype)
    theirs = reference_prdc(ref, real, fake, k, capsys)
    assert 0.0 < theirs["precision"] < 1.0 and 0.0 < theirs["recall"] < 1.0  # the data is informative
    assert 0.0 < theirs["coverage"] < 1.0 and theirs["density"] > 0.0
    ours = shim.compute_prdc(real, fake, k)
    gaps = unit_gaps(ours, theirs, n, m, k)
    assert all(g <= 1.0 + 1e-9 for g in gaps.values()), (ours, theirs, gaps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_to_reference_with_exact_ties(ref, capsys, dtype):
    # Distinct points of the integer grid {0..4}^4: squared distances are small integers, computed
    # exactly by both implementations, so many distances tie exactly with a radius and the strict < of
    # the definition decides them. (No duplicates within a set, so no zero radii.)
    rng = np.random.default_rng(7)
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 4, indexing="ij"), axis=-1).reshape(-1, 4)
    real = grid[rng.choice(len(grid), 150, replace=False)].astype(dtype)
    fake = (grid[rng.choice(len(grid), 120, replace=False)] + np.array([0, 0, 0, 1])).astype(dtype)
    for k in (1, 3, 5):
        theirs = reference_prdc(ref, real, fake, k, capsys)
        ours = shim.compute_prdc(real, fake, k)
        gaps = unit_gaps(ours, theirs, len(real), len(fake), k)  # the same counts: only density's last bit may differ
        assert all(g < 1e-6 for g in gaps.values()), (k, ours, theirs)


def test_return_value_keys_and_types():
    real, fake = mixture_pair(60, 40, 5, seed=1)
    out = shim.compute_prdc(real_features=real, fake_features=fake, nearest_k=3)
    assert type(out) is dict
    assert list(out) == KEYS
    assert all(type(v) is float for v in out.values())


def test_does_not_print(capsys):
    real, fake = mixture_pair(60, 40, 5, seed=2)
    shim.compute_prdc(real, fake, 5)
    shim.compute_nearest_neighbour_distances(real, 5)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_duplicate_points_warn_and_give_empty_balls():
    # Every point repeated k + 1 times: each radius is exactly 0, and with the strict < no ball
    # contains anything, so all four numbers are 0 (the reference gets 0 here too, or round-off radii
    # of ~1e-6 for other data); the shim must not return this silently.
    rng = np.random.default_rng(3)
    k = 3
    real = np.repeat(rng.normal(size=(20, 6)), k + 1, axis=0)
    with pytest.warns(gm.DuplicatePointsWarning):
        out = shim.compute_prdc(real, real.copy(), k)
    assert out == dict.fromkeys(KEYS, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_helpers_match_reference(ref, dtype):
    rtol = 1e-5 if dtype == np.float32 else 1e-9  # the reference rounds float32 input's distances to float32
    real, fake = mixture_pair(120, 80, 12, seed=4)
    real, fake = real.astype(dtype), fake.astype(dtype)

    ours = shim.compute_pairwise_distance(real, fake)
    assert ours.shape == (120, 80) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref.compute_pairwise_distance(real, fake), rtol=rtol)

    ours = shim.compute_pairwise_distance(real)
    assert ours.shape == (120, 120) and np.all(np.diag(ours) == 0.0)
    np.testing.assert_allclose(ours, ref.compute_pairwise_distance(real), rtol=rtol, atol=1e-12)

    for k in (1, 4):
        ours = shim.compute_nearest_neighbour_distances(real, k)
        assert ours.shape == (120,) and ours.dtype == np.float64
        np.testing.assert_allclose(ours, ref.compute_nearest_neighbour_distances(real, k), rtol=rtol)


def test_get_kth_value_matches_reference(ref):
    # The reference is only right along the last axis: it slices ``[..., :k]`` whatever ``axis`` is.
    a = np.random.default_rng(5).normal(size=(7, 9, 11))
    for k in (1, 3, 6):
        np.testing.assert_array_equal(shim.get_kth_value(a, k), ref.get_kth_value(a, k))
        np.testing.assert_array_equal(shim.get_kth_value(a, k, axis=2), ref.get_kth_value(a, k, axis=2))


def test_get_kth_value_definition():
    a = np.random.default_rng(6).normal(size=(5, 8, 6))
    for axis in (0, 1, 2, -1):
        for k in (1, 3, 5):
            expected = np.take(np.sort(a, axis=axis), k - 1, axis=axis)
            np.testing.assert_array_equal(shim.get_kth_value(a, k, axis=axis), expected)
    np.testing.assert_array_equal(shim.get_kth_value(a, 6), a.max(axis=-1))  # k may be the axis length
    with pytest.raises(ValueError, match="k"):
        shim.get_kth_value(a, 0)


def test_nearest_neighbour_distances_definition():
    # brute force with explicit differences: the k-th smallest distance to the other points
    x = np.random.default_rng(8).normal(size=(50, 4))
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    for k in (1, 5):
        np.testing.assert_allclose(
            shim.compute_nearest_neighbour_distances(x, k), np.sort(d, axis=1)[:, k - 1], rtol=1e-12
        )
