"""gm.mauve and gm.prd_curve: against mauve-text (the test extra) on the same histograms and, end to end, on sets
whose quantisation every k-means finds; against float64 references from the papers (tests/reference_frontiers.py);
analytic cases; backends."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.frontiers import mauve_from_histograms, prd_from_histograms
from reference_frontiers import ref_f_beta, ref_frontier_integral, ref_mauve, ref_prd


def modes(rng, weights, n, d=8, spread=0.05, scale=5.0):
    """Rows near the first len(weights) axes (scaled), drawn with ``weights``: separated after L2 normalisation."""
    centers = scale * np.eye(d)[: len(weights)]
    return centers[rng.choice(len(weights), size=n, p=weights)] + spread * rng.normal(size=(n, d))


def random_histograms(rng, k, zeros=0):
    p, q = rng.random(k), rng.random(k)
    q[:zeros] = 0
    return p / p.sum(), q / q.sum()


# ---------------------------------------------------------------------------------------------------------
# MAUVE
# ---------------------------------------------------------------------------------------------------------


def test_mauve_from_histograms_matches_the_paper_reference():
    rng = np.random.default_rng(0)
    for k, zeros in ((2, 0), (10, 0), (50, 5)):
        p, q = random_histograms(rng, k, zeros)
        got = mauve_from_histograms(p, q)
        assert got["mauve"] == pytest.approx(ref_mauve(p, q), abs=1e-13)
        assert got["frontier_integral"] == pytest.approx(ref_frontier_integral(p, q), abs=1e-8)
        got3 = mauve_from_histograms(p, q, discretization_size=7, scaling_factor=2.0)
        assert got3["mauve"] == pytest.approx(ref_mauve(p, q, size=7, c=2.0), abs=1e-13)


def test_mauve_from_histograms_matches_mauve_text():
    mauve_text = pytest.importorskip("mauve.compute_mauve", reason="mauve-text is in the test extra")
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    weights = np.linspace(1e-6, 1 - 1e-6, 25)
    for k, zeros in ((3, 0), (20, 0), (100, 10)):
        p, q = random_histograms(rng, k, zeros)
        curve = mauve_text.get_divergence_curve_for_multinomials(p, q, weights, 5)
        x, y = curve.T
        by_x, by_y = np.argsort(x), np.argsort(y)
        theirs = 0.5 * (metrics.auc(x[by_x], y[by_x]) + metrics.auc(y[by_y], x[by_y]))
        got = mauve_from_histograms(p, q)
        assert got["mauve"] == pytest.approx(theirs, abs=1e-12)
        np.testing.assert_allclose(got["divergence_curve"], curve, rtol=1e-12, atol=1e-15)
        assert got["frontier_integral"] == pytest.approx(mauve_text.get_fronter_integral(p, q), abs=1e-12)


def test_mauve_end_to_end_matches_mauve_text_when_the_quantisation_is_unambiguous():
    """Four separated modes and num_buckets=4: FAISS's k-means and ours find the same clusters, so every output
    agrees to round-off (the histograms are equal up to the order of the buckets)."""
    pytest.importorskip("mauve.compute_mauve", reason="mauve-text is in the test extra")
    compute_mauve = importlib.import_module("mauve").compute_mauve
    rng = np.random.default_rng(2)
    p = modes(rng, [0.25, 0.25, 0.25, 0.25], 400)
    q = modes(rng, [0.55, 0.15, 0.2, 0.1], 300)
    theirs = compute_mauve(p_features=p, q_features=q, num_buckets=4, verbose=False)
    ours = gm.mauve(p, q, num_buckets=4)
    for name in ("mauve", "frontier_integral", "mauve_star", "frontier_integral_star"):
        assert getattr(ours, name) == pytest.approx(getattr(theirs, name), abs=1e-10), name
    np.testing.assert_allclose(np.sort(ours.p_hist), np.sort(theirs.p_hist), atol=1e-15)
    np.testing.assert_allclose(ours.divergence_curve, theirs.divergence_curve, rtol=1e-10, atol=1e-14)


def test_mauve_pca_keeps_the_components_of_mauve_text_rule():
    """PCA of the L2-normalised union, the fewest components reaching 0.9 of the variance (scikit-learn's PCA)."""
    datasets = pytest.importorskip("sklearn.datasets")
    decomposition = pytest.importorskip("sklearn.decomposition")
    X = datasets.load_digits().data
    p, q = X[:900], X[900:1700]
    result = gm.mauve(p, q, kmeans_n_init=1, kmeans_max_iter=30)
    Z = np.concatenate([p, q])
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    ratio = np.cumsum(decomposition.PCA().fit(Z).explained_variance_ratio_)
    assert result.pca_components == int(np.argmax(ratio >= 0.9)) + 1
    assert result.num_buckets == 80  # round(800 / 10)
    # the score is the paper's formula on the histograms of the labels it reports
    p_hist = np.bincount(result.p_labels, minlength=80) / 900
    q_hist = np.bincount(result.q_labels, minlength=80) / 800
    assert result.mauve == pytest.approx(ref_mauve(p_hist, q_hist), abs=1e-13)
    assert 0.5 < result.mauve <= 1.0  # two halves of one data set


def test_mauve_analytic_cases():
    rng = np.random.default_rng(3)
    p = modes(rng, [0.5, 0.5], 200)
    same = gm.mauve(p, p[::-1], num_buckets=2)
    assert same.mauve == 1.0 and same.frontier_integral == pytest.approx(0.0, abs=1e-15)
    disjoint = gm.mauve(modes(rng, [1.0], 100), modes(rng, [0.0, 1.0], 100), num_buckets=2)
    assert disjoint.frontier_integral == pytest.approx(1.0, abs=1e-15)  # FI of disjoint supports: 1
    # disjoint supports: KL(P || R_l) = -log l, so the curve points are ((1 - l)^c, l^c)
    weights = np.linspace(1e-6, 1 - 1e-6, 25)
    curve = np.concatenate([[[1.0, 0.0]], np.stack([(1 - weights) ** 5, weights**5], axis=1), [[0.0, 1.0]]])
    np.testing.assert_allclose(disjoint.divergence_curve, curve, rtol=1e-12, atol=1e-300)
    assert disjoint.mauve == pytest.approx(ref_mauve([1, 0], [0, 1]), abs=1e-15)


def test_mauve_backends_agree(backend, fake_gpu):
    rng = np.random.default_rng(4)
    p, q = rng.normal(size=(120, 6)), rng.normal(size=(100, 6)) + 0.3
    expected = gm.mauve(p, q, num_buckets=10, backend="cpu")
    backends = [backend, "cuda", "cupy"]
    for name in backends:
        got = gm.mauve(p.astype(np.float64), q, num_buckets=10, backend=name)
        np.testing.assert_array_equal(got.p_labels, expected.p_labels, err_msg=name)
        assert got.mauve == pytest.approx(expected.mauve, abs=1e-14), name


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(num_buckets="many"), "num_buckets"),
        (dict(num_buckets=0), "num_buckets"),
        (dict(pca_explained_variance=1.5), "pca_explained_variance"),
        (dict(kmeans_n_init=0), "kmeans_n_init"),
        (dict(divergence_curve_discretization_size=1), "divergence_curve_discretization_size"),
        (dict(mauve_scaling_factor=0), "mauve_scaling_factor"),
    ],
)
def test_mauve_bad_arguments_are_named(kwargs, name):
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises((ValueError, TypeError), match=f"^{name}: "):
        gm.mauve(X, X + 1, **kwargs)
    with pytest.raises(ValueError, match="^q_features: "):
        gm.mauve(X, X[:, :2])
    with pytest.raises(ValueError, match="^q_hist: "):
        mauve_from_histograms([0.5, 0.5], [1.0])


# ---------------------------------------------------------------------------------------------------------
# PRD
# ---------------------------------------------------------------------------------------------------------


def test_prd_from_histograms_matches_the_paper_reference():
    rng = np.random.default_rng(5)
    for k, zeros, angles in ((2, 0, 3), (20, 0, 1001), (20, 4, 101)):
        P, Q = random_histograms(rng, k, zeros)
        got = prd_from_histograms(P, Q, num_angles=angles)
        precision, recall = ref_prd(P, Q, angles)
        np.testing.assert_allclose(got["precision"], precision, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got["recall"], recall, rtol=1e-12, atol=1e-15)


def test_prd_of_a_model_that_covers_half_of_the_modes():
    """Q = P restricted to half of its mass: precision(l) = min(l a, 1), recall(l) = min(a, 1 / l) with a = 1/2
    (Sajjadi et al. 2018, Sec. 3); F_8 = 65 a / (64 + a) and F_1/8 = (65/64) a / (1/64 + a) at the corner."""
    rng = np.random.default_rng(6)
    centers = 10.0 * np.eye(4)
    real = centers[np.repeat(np.arange(4), 100)] + 0.3 * rng.normal(size=(400, 4))  # P = (1/4, 1/4, 1/4, 1/4)
    fake = centers[np.repeat(np.arange(2), 200)] + 0.3 * rng.normal(size=(400, 4))  # Q = (1/2, 1/2, 0, 0)
    result = gm.prd_curve(real, fake, num_clusters=4, num_runs=3)
    np.testing.assert_allclose(np.sort(result.real_hist, axis=1), 0.25)
    np.testing.assert_allclose(np.sort(result.fake_hist, axis=1), [[0, 0, 0.5, 0.5]] * 3)
    slopes, share = result.slopes, 0.5
    np.testing.assert_allclose(result.precision, np.minimum(slopes * share, 1.0), rtol=1e-12)
    np.testing.assert_allclose(result.recall, np.minimum(share, 1.0 / slopes), rtol=1e-12)
    assert result.f_beta == pytest.approx(ref_f_beta(result.precision, result.recall, 8.0), rel=1e-12)
    assert result.f_beta == pytest.approx(65 * share / (64 + share), rel=2e-3)
    assert result.f_beta_inv == pytest.approx((65 / 64) * share / (1 / 64 + share), rel=2e-3)


def test_prd_curve_is_the_mean_of_the_runs_reference():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(150, 5)), rng.normal(size=(150, 5)) * 1.5 + 0.5
    result = gm.prd_curve(real, fake, num_clusters=8, num_angles=201, num_runs=4, kmeans_n_init=2, seed=3)
    curves = [ref_prd(P, Q, 201) for P, Q in zip(result.real_hist, result.fake_hist)]
    np.testing.assert_allclose(result.precision, np.mean([c[0] for c in curves], axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.recall, np.mean([c[1] for c in curves], axis=0), rtol=1e-12, atol=1e-15)
    assert result.f_beta == pytest.approx(ref_f_beta(result.precision, result.recall, 8.0), rel=1e-12)
    assert result.f_beta_inv == pytest.approx(ref_f_beta(result.precision, result.recall, 1 / 8), rel=1e-12)
    # the runs cluster with different seeds; the histograms are those of real and fake
    assert not np.array_equal(result.real_hist[0], result.real_hist[1])
    np.testing.assert_allclose(result.real_hist.sum(axis=1), 1.0)
    again = gm.prd_curve(real, fake, num_clusters=8, num_angles=201, num_runs=4, kmeans_n_init=2, seed=3)
    np.testing.assert_array_equal(again.precision, result.precision)


def test_prd_of_identical_sets_reaches_one():
    X = np.random.default_rng(8).normal(size=(100, 3))
    result = gm.prd_curve(X, X, num_clusters=5, num_runs=2)
    assert result.precision.max() == 1.0 and result.recall.max() == 1.0
    assert result.f_beta == pytest.approx(1.0, abs=1e-12) and result.f_beta_inv == pytest.approx(1.0, abs=1e-12)
    assert np.all(result.precision <= 1) and np.all(result.recall <= 1)


def test_prd_backends_agree(backend, fake_gpu):
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(80, 4)), rng.normal(size=(60, 4)) + 0.4
    expected = gm.prd_curve(real, fake, num_clusters=6, num_runs=2, backend="cpu")
    for name in (backend, "cuda", "cupy"):
        got = gm.prd_curve(real.astype(np.float32).astype(np.float64), fake, num_clusters=6, num_runs=2, backend=name)
        np.testing.assert_array_equal(got.real_hist, expected.real_hist, err_msg=name)
        assert got.f_beta == expected.f_beta


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(num_clusters=0), "num_clusters"),
        (dict(num_angles=2), "num_angles"),
        (dict(num_runs=0), "num_runs"),
        (dict(beta=0.0), "beta"),
        (dict(seed=-2), "seed"),
    ],
)
def test_prd_bad_arguments_are_named(kwargs, name):
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises((ValueError, TypeError), match=f"^{name}: "):
        gm.prd_curve(X, X + 1, **kwargs)
    with pytest.raises(ValueError, match="^fake_hist: "):
        prd_from_histograms([0.5, 0.5], [-1.0, 2.0])
