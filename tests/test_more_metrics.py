"""Issue 17's metrics against their public implementations (POT, top-pr where installed) and float64 references
written from the papers (tests/reference_more.py), on random sets and on scikit-learn's bundled digits."""

from __future__ import annotations

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.fidelity import _mann_whitney_z
from reference_more import (
    ref_fd_infinity,
    ref_fit_variances,
    ref_mann_whitney_z,
    ref_mog_nll,
    ref_p_precision_recall,
    ref_rarity,
    ref_swd,
    ref_top_pr,
)

BACKENDS = ["cpu", "numpy"]


def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X = datasets.load_digits().data.astype(np.float64)
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:300]], X[order[300:550]]


def gaussian_sets(n=200, m=150, d=6, shift=0.5):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


# ---------------------------------------------------------------------------------------------- sliced Wasserstein


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sizes", [(200, 200), (200, 130)])
def test_sliced_wasserstein_matches_pot_and_the_reference(backend, sizes):
    ot = pytest.importorskip("ot")
    real, fake = gaussian_sets(*sizes)
    for p in (2, 1.5):
        ours = gm.sliced_wasserstein(real, fake, projections=30, p=p, seed=7, backend=backend)
        theirs = ot.sliced_wasserstein_distance(real, fake, n_projections=30, p=p, seed=7)
        assert ours == pytest.approx(theirs, rel=1e-10)
    theta = np.random.RandomState(7).randn(real.shape[1], 30)
    theta /= np.linalg.norm(theta, axis=0)
    assert gm.sliced_wasserstein(real, fake, projections=30, seed=7, backend=backend) == pytest.approx(
        ref_swd(real, fake, theta), rel=1e-10
    )


def test_sliced_wasserstein_on_digits_matches_pot():
    ot = pytest.importorskip("ot")
    real, fake = digits()
    assert gm.sliced_wasserstein(real, fake, seed=3) == pytest.approx(
        ot.sliced_wasserstein_distance(real, fake, seed=3), rel=1e-10
    )


def test_sliced_wasserstein_analytic_cases():
    real, _ = gaussian_sets(n=300)
    assert gm.sliced_wasserstein(real, real) == 0.0
    # equal isotropic Gaussians shifted by delta: SW_2^2 -> E (theta . delta)^2 = |delta|^2 / d
    rng = np.random.default_rng(5)
    d, delta = 4, np.array([2.0, -1.0, 0.0, 2.0])
    X, Y = rng.normal(size=(4000, d)), rng.normal(size=(4000, d)) + delta
    swd2 = float(gm.sliced_wasserstein(X, Y, projections=4000, seed=1)) ** 2
    theta = np.random.RandomState(1).randn(d, 4000)
    theta /= np.linalg.norm(theta, axis=0)
    assert swd2 == pytest.approx(np.mean((delta @ theta) ** 2), rel=0.02)  # these directions' E_theta
    assert swd2 == pytest.approx(delta @ delta / d, rel=0.1)  # the sphere's, within the Monte-Carlo error


# ---------------------------------------------------------------------------------------------- FD infinity


@pytest.mark.parametrize("backend", BACKENDS)
def test_fd_infinity_matches_the_reference(backend):
    real, fake = gaussian_sets(n=300, m=200, d=5)
    score = gm.fd_infinity(real, fake, points=6, seed=4, backend=backend)
    assert float(score) == pytest.approx(ref_fd_infinity(real, fake, score.details["sizes"], 4), rel=1e-9)
    assert list(score.details["sizes"]) == list(np.linspace(20, 200, 6).astype(int))  # dgm-eval's sizes


def test_fd_infinity_is_near_zero_for_one_distribution_and_removes_the_bias():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    inf = gm.fd_infinity(real, fake, seed=0)
    assert abs(float(inf)) < 0.2 * float(gm.fd(real, fake[:400]))  # the 1/N bias of FD_400 is mostly gone
    assert abs(float(inf)) < 5e-3


# ---------------------------------------------------------------------------------------------- FLD


def test_fls_matches_the_reference_em_and_likelihoods():
    rng = np.random.default_rng(3)
    train, test, fake = rng.normal(size=(80, 3)), rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    score = gm.fls(train, test, fake, iterations=2000, tol=1e-14)
    mean, std = test.mean(0), test.std(0, ddof=1)
    tr, te, fk = ((A - mean) / std for A in (train, test, fake))
    nll = ref_mog_nll(te, fk, ref_fit_variances(tr, fk))
    assert score.details["nll_test"] == pytest.approx(nll, rel=1e-6)
    order = np.random.default_rng(0).permutation(80)
    base = ref_mog_nll(te, tr[order[:30]], ref_fit_variances(tr[order[30:]], tr[order[:30]]))
    assert float(score) == pytest.approx(100 * (nll - base), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fls_flags_memorisation(backend):
    rng = np.random.default_rng(0)
    train, test, fresh = rng.normal(size=(300, 4)), rng.normal(size=(150, 4)), rng.normal(size=(150, 4))
    copies = train[:150] + 1e-4 * rng.normal(size=(150, 4))
    good, bad = gm.fls(train, test, fresh, backend=backend), gm.fls(train, test, copies, backend=backend)
    assert bad.details["gap"] < good.details["gap"] - 50
    assert abs(float(good)) < 10


# ---------------------------------------------------------------------------------------------- P-precision / P-recall


@pytest.mark.parametrize("backend", BACKENDS)
def test_p_precision_recall_matches_the_reference(backend):
    for real, fake in (gaussian_sets(), digits()):
        ours = gm.p_precision_recall(real, fake, backend=backend)
        ref = ref_p_precision_recall(real, fake)
        assert (ours.precision, ours.recall) == pytest.approx(ref, rel=1e-10, abs=1e-12)
    ours = gm.p_precision_recall(real, fake, k=2, a=2.0, backend=backend)
    assert (ours.precision, ours.recall) == pytest.approx(ref_p_precision_recall(real, fake, 2, 2.0), rel=1e-10)


def test_p_precision_recall_identical_sets_give_one():
    real, _ = gaussian_sets()
    result = gm.p_precision_recall(real, real)
    assert result.precision == 1.0 and result.recall == 1.0


# ---------------------------------------------------------------------------------------------- TopP&R


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_pr_matches_the_reference(backend):
    real, fake = gaussian_sets(n=150, m=140, d=5, shift=0.8)
    ours = gm.top_pr(real, fake, projection=None, backend=backend)
    assert ours.k == 25
    assert (ours.precision, ours.recall) == pytest.approx(ref_top_pr(real, fake, 25), abs=1e-12)
    assert 0 < ours.precision < 1


def test_top_pr_matches_the_package_on_digits():
    """top-pr 0.2.1 needs torchvision and gudhi, so it is not in the test extra: runs where it is installed."""
    torch = pytest.importorskip("torch")
    top_pr = pytest.importorskip("top_pr")
    real, fake = digits()
    torch.manual_seed(99)
    W = torch.empty(32, 64)
    torch.nn.init.xavier_normal_(W)
    theirs = top_pr.compute_top_pr(real_features=real, fake_features=fake)
    ours = gm.top_pr(real, fake, projection=W.numpy().T.astype(np.float64))
    assert (ours.precision, ours.recall) == pytest.approx((theirs["fidelity"], theirs["diversity"]), abs=1e-12)


# ---------------------------------------------------------------------------------------------- rarity


@pytest.mark.parametrize("backend", BACKENDS)
def test_rarity_matches_the_reference(backend):
    for real, fake in (gaussian_sets(), digits()):
        for quantile in (None, 0.9):
            ours = gm.rarity_score(real, fake, radius_quantile=quantile, backend=backend)
            ref = ref_rarity(real, fake, radius_quantile=quantile)
            np.testing.assert_array_equal(ours.in_manifold, ~np.isnan(ref))
            np.testing.assert_allclose(ours.scores, ref, rtol=1e-12)


def test_rarity_ball_boundary_is_strict():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[2.0], [4.0], [0.5]])  # k=1 radii: 1, 1, 2, 4; 2.0 is on the sphere of x=1 and x=3? no: inside 3's
    ours = gm.rarity_score(real, fake, k=1)
    np.testing.assert_array_equal(ours.scores, ref_rarity(real, fake, k=1))
    assert ours.scores[0] == 2.0  # d(1, 2) = 1 is not < r = 1; d(3, 2) = 1 < 2


# ---------------------------------------------------------------------------------------------- C_T


def test_mann_whitney_z_matches_the_reference_and_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 6, 40).astype(float), rng.integers(0, 6, 55).astype(float)  # many ties
    assert _mann_whitney_z(a, b) == pytest.approx(ref_mann_whitney_z(a, b), rel=1e-12)
    stats = pytest.importorskip("scipy.stats")
    u = stats.mannwhitneyu(a, b, alternative="less").statistic
    assert _mann_whitney_z(a, b) == pytest.approx((u - (40 * 55 / 2 - 0.5)) / np.sqrt(40 * 55 * 96 / 12), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ct_score_detects_copying(backend):
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(600, 5)), rng.normal(size=(300, 5))
    copies = train[:300] + 0.01 * rng.normal(size=(300, 5))
    fresh, far = rng.normal(size=(300, 5)), rng.normal(size=(300, 5)) * 1.5
    assert gm.ct_score(train, test, copies, backend=backend) < -5
    assert abs(gm.ct_score(train, test, fresh, backend=backend)) < 3
    assert gm.ct_score(train, test, far, backend=backend) > 3


def test_ct_score_cells_and_weights():
    real, fake = digits()
    score = gm.ct_score(real[:200], real[200:], fake, cells=3)
    z, share, used = score.details["z"], score.details["test_share"], score.details["used"]
    assert share.sum() == pytest.approx(1.0)
    assert float(score) == pytest.approx(share[used] @ z[used] / share[used].sum())
    assert score == gm.ct_score(real[:200], real[200:], fake, cells=3)  # seeded


# ---------------------------------------------------------------------------------------------- quality-weighted Vendi


@pytest.mark.parametrize("backend", BACKENDS)
def test_quality_weighted_vendi_is_mean_quality_times_vendi(backend):
    real, _ = digits()
    quality = np.random.default_rng(0).uniform(size=len(real))
    for q in (1, 2):
        score = gm.quality_weighted_vendi(real, quality, q=q, backend=backend)
        K = real @ real.T / np.outer(np.linalg.norm(real, axis=1), np.linalg.norm(real, axis=1))
        lam = np.clip(np.linalg.eigvalsh(K / len(real)), 0, None)
        vs = np.exp(-(lam[lam > 0] * np.log(lam[lam > 0])).sum()) if q == 1 else 1 / (lam**2).sum()
        assert float(score) == pytest.approx(quality.mean() * vs, rel=1e-9)
    with pytest.raises(ValueError, match="quality"):
        gm.quality_weighted_vendi(real, -quality)
