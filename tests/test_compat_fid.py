"""Tests of the FID/KID drop-ins: genmetrics.compat.pytorch_fid, .cleanfid and .torchmetrics.

Oracles:

- torchmetrics 1.9 (the ``test`` extra): its ``FrechetInceptionDistance`` / ``KernelInceptionDistance`` with an
  identity ``nn.Module`` as ``feature`` (no Inception weights), so they see exactly our features.
- pytorch-fid 0.3.0 and clean-fid 0.1.35 are not in the test extra: both import torchvision, which from PyPI
  either pulls a newer CUDA build of torch or, pinned to torch 2.13's torchvision 0.28.0, fails to import next
  to the CPU build ("operator torchvision::nms does not exist"). Their feature-level functions are therefore
  re-implemented below from their published code's documented behaviour (``scipy.linalg.sqrtm`` of
  sigma1 sigma2 with an ``eps`` retry; ``np.random.choice`` subsets and the (x.y/d + 1)^3 kernel), and the tests
  also run against the packages themselves when they import (skipped otherwise, with the reason).
- :func:`genmetrics.fd` on the features (QR route, ~eps accurate on singular covariances) as the exact value.

Data: scikit-learn's digits (integer pixels, some constant: exactly singular covariances; without the
constant pixels: well conditioned) and seeded random features with correlated columns.
"""

# clean-fid draws its KID subsets from NumPy's legacy global generator: the tests must use it too
# ruff: noqa: NPY002

import importlib
import warnings

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.compat import cleanfid as cf
from genmetrics.compat import pytorch_fid as pf
from genmetrics.compat import torchmetrics as tm

EPS = float(np.finfo(np.float64).eps)


def reference_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid 0.3.0's calculate_frechet_distance (clean-fid's frechet_distance is the same), re-implemented."""
    linalg = pytest.importorskip("scipy.linalg")
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    with warnings.catch_warnings():  # "Matrix is singular": pytorch-fid passes disp=False, which silences it
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def reference_kernel_distance(feats1, feats2, num_subsets=100, max_subset_size=1000):
    """clean-fid 0.1.35's kernel_distance, re-implemented: draws from NumPy's global generator, rows of feats2 first."""
    d = feats1.shape[1]
    s = min(feats1.shape[0], feats2.shape[0], max_subset_size)
    values = []
    for _ in range(num_subsets):
        x = feats2[np.random.choice(feats2.shape[0], s, replace=False)]
        y = feats1[np.random.choice(feats1.shape[0], s, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
        values.append(within / (s * (s - 1)) - 2 * kxy.sum() / (s * s))
    return float(np.mean(values))


def installed(module, reason):
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or torchvision's RuntimeError next to a CPU torch
        pytest.skip(f"{reason}: {type(exc).__name__}: {exc}")


def stats(X):
    return X.mean(axis=0), np.cov(X, rowvar=False)


def terms(X, Y):
    (m1, s1), (m2, s2) = stats(X), stats(Y)
    return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2))


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    return X.astype(np.float64), y


def random_pair(n, m, d, seed):
    """Correlated features (random mixing matrices), different means and covariances."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    Y = rng.normal(size=(m, d)) @ rng.normal(size=(d, d)) + 0.3
    return X, Y


def well_conditioned_cases(digits):
    X, y = digits
    keep = X.std(axis=0) > 0  # the constant pixels make the digits' covariances singular
    return {
        "digits halves, varying pixels": (X[:898][:, keep], X[898:][:, keep]),
        "random 2000 / 1500 x 64": random_pair(2000, 1500, 64, 0),
        "random 300 / 400 x 16": random_pair(300, 400, 16, 1),
    }


def singular_cases(digits):
    X, y = digits
    A, B = random_pair(2000, 1500, 64, 0)
    return {
        "digits halves (constant pixels)": (X[:898], X[898:]),
        "digits class 0 vs 1": (X[y == 0], X[y == 1]),
        "digits 30 vs 40 rows": (X[:30], X[100:140]),
        "random 50 vs 60 rows of 64": (A[:50], B[:60]),
    }


# ----------------------------------------------------------------------------------------------------------
# pytorch_fid.calculate_frechet_distance, cleanfid.frechet_distance
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", [pf.calculate_frechet_distance, cf.frechet_distance])
def test_frechet_matches_the_reference_formula_on_well_conditioned_covariances(digits, function):
    for name, (X, Y) in well_conditioned_cases(digits).items():
        (m1, s1), (m2, s2) = stats(X), stats(Y)
        ours = function(m1, s1, m2, s2)
        assert type(ours) is float
        assert abs(ours - reference_frechet(m1, s1, m2, s2)) <= 1e-10 * terms(X, Y), name
        assert abs(ours - float(gm.fd(X, Y))) <= 1e-10 * terms(X, Y), name


def test_frechet_on_singular_covariances_stays_within_the_square_root_bound(digits):
    """Singular products: both codes take square roots of round-off eigenvalues (error up to d sqrt(eps) |sigma|
    against the exact gm.fd); measured 1e-9 to 3e-9 of the terms, asserted below 1e-7 (a formula error, e.g. a
    biased covariance or a missing trace, is ~1e-3 of them)."""
    for name, (X, Y) in singular_cases(digits).items():
        (m1, s1), (m2, s2) = stats(X), stats(Y)
        exact = float(gm.fd(X, Y))
        ours = pf.calculate_frechet_distance(m1, s1, m2, s2)
        bound = X.shape[1] * np.sqrt(EPS) * max(np.abs(s1).max(), np.abs(s2).max())
        assert abs(ours - exact) <= bound, name
        assert abs(ours - exact) <= 1e-7 * terms(X, Y), name
        assert abs(ours - reference_frechet(m1, s1, m2, s2)) <= 2 * bound, name


def test_frechet_against_the_installed_packages(digits):
    pytorch_fid = installed("pytorch_fid.fid_score", "pytorch-fid (needs a torchvision that imports)")
    cleanfid = installed("cleanfid.fid", "clean-fid (needs a torchvision that imports)")
    for name, (X, Y) in well_conditioned_cases(digits).items():
        (m1, s1), (m2, s2) = stats(X), stats(Y)
        ours = pf.calculate_frechet_distance(m1, s1, m2, s2)
        assert abs(ours - float(pytorch_fid.calculate_frechet_distance(m1, s1, m2, s2))) <= 1e-10 * terms(X, Y)
        assert abs(ours - float(cleanfid.frechet_distance(m1, s1, m2, s2))) <= 1e-10 * terms(X, Y)
        assert abs(cf.fid_from_feats(X, Y) - float(cleanfid.fid_from_feats(X, Y))) <= 1e-10 * terms(X, Y), name


def test_frechet_scalars_eps_and_errors():
    # 1-D Gaussians N(0, 1), N(1, 4): 1 + 1 + 4 - 2 sqrt(4) = 2 (pytorch-fid's atleast_1d / atleast_2d)
    assert pf.calculate_frechet_distance(0.0, 1.0, 1.0, 4.0) == pytest.approx(2.0, abs=1e-14)
    X, Y = random_pair(100, 80, 4, 3)
    (m1, s1), (m2, s2) = stats(X), stats(Y)
    assert pf.calculate_frechet_distance(m1, s1, m2, s2, eps=0.5) == pf.calculate_frechet_distance(m1, s1, m2, s2)
    with pytest.raises(ValueError, match="^eps"):
        pf.calculate_frechet_distance(m1, s1, m2, s2, eps=-1.0)
    with pytest.raises(ValueError, match="^mu2"):
        pf.calculate_frechet_distance(m1, s1, m2[:3], s2[:3, :3])
    with pytest.raises(ValueError, match="^sigma2"):
        pf.calculate_frechet_distance(m1, s1, m2, s2[:3, :3])
    with pytest.raises(ValueError, match="^sigma1"):
        pf.calculate_frechet_distance(m1, s1 + np.triu(np.ones((4, 4)), 1), m2, s2)
    with pytest.raises(ValueError, match="^mu1"):
        pf.calculate_frechet_distance(m1 * np.nan, s1, m2, s2)


# ----------------------------------------------------------------------------------------------------------
# cleanfid.fid_from_feats, cleanfid.kernel_distance
# ----------------------------------------------------------------------------------------------------------


def test_fid_from_feats_is_gm_fd(digits):
    for name, (X, Y) in {**well_conditioned_cases(digits), **singular_cases(digits)}.items():
        assert cf.fid_from_feats(X, Y) == float(gm.fd(X, Y)), name
    for name, (X, Y) in well_conditioned_cases(digits).items():
        assert abs(cf.fid_from_feats(X, Y) - reference_frechet(*stats(X), *stats(Y))) <= 1e-10 * terms(X, Y), name
    with pytest.raises(ValueError, match="^feats2"):
        cf.fid_from_feats(np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="^feats1"):
        cf.fid_from_feats(np.ones((1, 3)), np.ones((5, 3)))


def kid_cases(digits):
    X, _ = digits
    A, B = random_pair(700, 500, 32, 2)
    return {
        "digits halves": (X[:898], X[898:], 20, 300),
        "random 700 / 500 x 32": (A, B, 30, 400),
        "random, subset size clamped to 500": (A, B, 5, 5000),
    }


def test_kernel_distance_equals_clean_fid_on_the_same_global_draws(digits):
    for name, (X, Y, k, s) in kid_cases(digits).items():
        np.random.seed(7)
        want = reference_kernel_distance(X, Y, k, s)
        state_after_reference = np.random.get_state()[1].copy()
        np.random.seed(7)
        ours = cf.kernel_distance(X, Y, k, s)
        assert type(ours) is float
        assert abs(ours - want) <= 1e-10 * abs(want), name
        # the global generator moved exactly as clean-fid moves it
        np.testing.assert_array_equal(np.random.get_state()[1], state_after_reference)
        # seed=7 draws the same subsets from a private RandomState, without touching the global one
        np.random.seed(1)
        before = np.random.get_state()[1].copy()
        assert cf.kernel_distance(X, Y, num_subsets=k, max_subset_size=s, seed=7) == ours
        np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_kernel_distance_against_the_installed_clean_fid(digits):
    cleanfid = installed("cleanfid.fid", "clean-fid (needs a torchvision that imports)")
    for name, (X, Y, k, s) in kid_cases(digits).items():
        np.random.seed(3)
        want = float(cleanfid.kernel_distance(X, Y, num_subsets=k, max_subset_size=s))
        assert abs(cf.kernel_distance(X, Y, k, s, seed=3) - want) <= 1e-10 * abs(want), name


def test_kernel_distance_float32_is_computed_in_float64(digits):
    X, _ = digits
    X32, Y32 = X[:898].astype(np.float32), X[898:].astype(np.float32)
    ours = cf.kernel_distance(X32, Y32, 10, 200, seed=0)
    assert ours == cf.kernel_distance(X32.astype(np.float64), Y32.astype(np.float64), 10, 200, seed=0)


def test_kernel_distance_errors():
    X, Y = random_pair(50, 40, 4, 0)
    with pytest.raises(ValueError, match="^feats2"):
        cf.kernel_distance(X, Y[:, :3])
    with pytest.raises(ValueError, match="^feats1"):
        cf.kernel_distance(X[:1], Y)
    with pytest.raises(ValueError, match="^num_subsets"):
        cf.kernel_distance(X, Y, num_subsets=0)
    with pytest.raises(ValueError, match="^max_subset_size"):
        cf.kernel_distance(X, Y, max_subset_size=1)
    with pytest.raises(ValueError, match="^feats1"):
        cf.kernel_distance(X * np.nan, Y)
    with pytest.raises(TypeError, match="^seed"):
        cf.kernel_distance(X, Y, seed=1.5)


# ----------------------------------------------------------------------------------------------------------
# torchmetrics-style classes
# ----------------------------------------------------------------------------------------------------------


def batches(X, size):
    return [X[i : i + size] for i in range(0, len(X), size)]


def test_frechet_distance_streams_exactly(digits):
    """Batches of any size (one sample included) give the FD of the concatenation's mean and covariance."""
    for name, (X, Y) in {**well_conditioned_cases(digits), **singular_cases(digits)}.items():
        metric = tm.FrechetDistance()
        for B in batches(X, 97):
            metric.update(B, real=True)
        metric.update(Y[0], real=False)  # a vector is one sample
        for B in batches(Y[1:], 250):
            metric.update(B, real=False)
        got = metric.compute()
        assert type(got) is float
        if name in well_conditioned_cases(digits):
            assert abs(got - float(gm.frechet_from_statistics(*stats(X), *stats(Y)))) <= 1e-10 * terms(X, Y), name
            assert abs(got - float(gm.fd(X, Y))) <= 1e-10 * terms(X, Y), name
        else:  # round-off eigenvalues of the singular product: the square-root bound against the exact value
            sigma = max(np.abs(np.cov(X, rowvar=False)).max(), np.abs(np.cov(Y, rowvar=False)).max())
            assert abs(got - float(gm.fd(X, Y))) <= X.shape[1] * np.sqrt(EPS) * sigma, name


def test_frechet_distance_against_torchmetrics(digits):
    torch = pytest.importorskip("torch")
    fid_module = installed("torchmetrics.image.fid", "torchmetrics (pip install torchmetrics==1.9.0)")

    class Identity(torch.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.num_features = d

        def forward(self, x):
            return x

    for name, (X, Y) in well_conditioned_cases(digits).items():
        theirs = fid_module.FrechetInceptionDistance(feature=Identity(X.shape[1]))
        ours = tm.FrechetDistance()
        for real, F in ((True, X), (False, Y)):
            for B in batches(torch.from_numpy(F), 128):
                theirs.update(B, real=real)
                ours.update(B, real=real)
        want, got = float(theirs.compute()), ours.compute()
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
        assert abs(float(got) - want) <= 1e-10 * terms(X, Y), name


def test_kernel_distance_against_torchmetrics(digits):
    torch = pytest.importorskip("torch")
    kid_module = installed("torchmetrics.image.kid", "torchmetrics (pip install torchmetrics==1.9.0)")

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    X, _ = digits
    A, B = random_pair(700, 500, 32, 2)
    for name, (P, Q, params) in {
        "digits": (X[:898], X[898:], dict(subsets=15, subset_size=300)),
        "random": (A, B, dict(subsets=20, subset_size=400, degree=2, gamma=0.05, coef=0.5)),
    }.items():
        with pytest.warns(UserWarning, match="save all extracted features"):
            theirs = kid_module.KernelInceptionDistance(feature=Identity(), **params)
        ours = tm.KernelDistance(**params)
        for real, F in ((True, P), (False, Q)):
            for chunk in batches(torch.from_numpy(F), 200):
                theirs.update(chunk, real=real)
                ours.update(chunk, real=real)
        torch.manual_seed(11)
        want_mean, want_std = (float(v) for v in theirs.compute())
        torch.manual_seed(11)
        got_mean, got_std = ours.compute()
        assert got_mean.dtype == torch.float64
        assert abs(float(got_mean) - want_mean) <= 1e-10 * abs(want_mean), name
        assert abs(float(got_std) - want_std) <= 1e-8 * abs(want_std), name


def test_kernel_distance_int_seed_is_gm_kid():
    X, Y = random_pair(300, 250, 8, 4)
    metric = tm.KernelDistance(subsets=12, subset_size=100, seed=5)
    for B in batches(X, 64):
        metric.update(B, real=True)
    metric.update(Y, real=False)
    mean, std = metric.compute()
    want = gm.kid(X, Y, subsets=12, subset_size=100, seed=5)
    assert abs(mean - want.mean) <= 1e-12 * abs(want.mean)
    assert abs(std - want.std) <= 1e-10 * abs(want.std)
    assert metric.compute() == (mean, std)  # deterministic


def test_reset_keeps_the_real_side_when_asked():
    X, Y = random_pair(300, 250, 8, 4)
    for keep in (False, True):
        fd = tm.FrechetDistance(reset_real_features=not keep)
        kid = tm.KernelDistance(subsets=3, subset_size=50, seed=0, reset_real_features=not keep)
        for metric in (fd, kid):
            metric.update(X, real=True)
            metric.update(Y + 5.0, real=False)
            metric.reset()
            metric.update(Y, real=False)
            if keep:
                assert metric.compute() is not None
            else:
                with pytest.raises(ValueError, match="^(real|subset_size)"):
                    metric.compute()
                metric.update(X, real=True)
        assert fd.compute() == pytest.approx(float(gm.fd(X, Y)), rel=1e-10)


def test_class_errors():
    X, Y = random_pair(30, 30, 4, 0)
    fd = tm.FrechetDistance()
    fd.update(X, real=True)
    with pytest.raises(ValueError, match="^features"):
        fd.update(Y[:, :3], real=False)
    with pytest.raises(TypeError, match="^real"):
        fd.update(Y, real="yes")
    with pytest.raises(ValueError, match="^fake"):
        fd.compute()
    fd.update(Y[:1], real=False)
    with pytest.raises(ValueError, match="^fake"):
        fd.compute()
    with pytest.raises(ValueError, match="^features"):
        fd.update(Y * np.inf, real=False)
    with pytest.raises(ValueError, match="^num_features"):
        tm.FrechetDistance(num_features=0)
    kid = tm.KernelDistance(subset_size=40, seed=0)
    kid.update(X, real=True)
    kid.update(Y, real=False)
    with pytest.raises(ValueError, match="^subset_size"):
        kid.compute()
    for bad in (dict(subsets=0), dict(subset_size=1), dict(degree=0), dict(gamma=-1.0), dict(coef=0.0)):
        with pytest.raises(ValueError, match="^" + next(iter(bad))):
            tm.KernelDistance(**bad)


def test_torch_input_of_any_dtype():
    torch = pytest.importorskip("torch")
    X, Y = random_pair(200, 150, 6, 9)
    fd = tm.FrechetDistance()
    fd.update(torch.from_numpy(X).to(torch.bfloat16), real=True)
    fd.update(torch.from_numpy(Y).float().requires_grad_(), real=False)
    want = float(gm.fd(torch.from_numpy(X).to(torch.bfloat16).float().numpy(), Y.astype(np.float32)))
    assert float(fd.compute()) == pytest.approx(want, rel=1e-9)
    with pytest.raises(TypeError, match="^features"):
        fd.update(torch.ones(3, 6, dtype=torch.complex64), real=True)
