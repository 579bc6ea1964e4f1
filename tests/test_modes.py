"""gm.diversity_modes (issue 14, part 2): the top eigenpairs of K / trace(K) against a float64 NumPy eigh, the
dual and randomized methods against the exact one, the sign and ordering rules, and errors."""

import numpy as np
import pytest

import genmetrics as gm


def clusters(seed=0, sizes=(40, 30, 20), d=8, spread=1.0, gap=10.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), d)) * gap
    return np.concatenate([c + spread * rng.normal(size=(s, d)) for c, s in zip(centers, sizes)])


def reference_modes(X, kernel, bandwidth, n_modes):
    """float64 NumPy: eigenpairs of K / trace(K), largest first, each vector signed by its largest entry."""
    X = np.asarray(X, dtype=np.float64)
    if kernel == "rbf":
        d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        K = np.exp(-d2 / (2 * bandwidth**2))
    elif kernel == "cosine":
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        K = U @ U.T
    else:
        K = X @ X.T
    w, V = np.linalg.eigh(K / np.trace(K))
    w, V = w[::-1][:n_modes], V[:, ::-1][:, :n_modes]
    V = V * np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(n_modes)])
    return w, V


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize(("kernel", "bandwidth"), [("rbf", 6.0), ("cosine", None), ("linear", None)])
def test_modes_equal_the_eigenpairs(backend, kernel, bandwidth):
    X = clusters()
    w, V = reference_modes(X, kernel, bandwidth, 3)
    for method in ("exact", "randomized") + (("dual",) if kernel != "rbf" else ()):
        modes = gm.diversity_modes(
            X, kernel=kernel, bandwidth=bandwidth, n_modes=3, per_mode=7, method=method, backend=backend
        )
        tolerance = 1e-10 if method != "randomized" else 1e-6
        np.testing.assert_allclose(modes.eigenvalues, w, rtol=tolerance, atol=1e-12)
        for i in range(3):  # the per_mode largest loadings of each mode, in order
            order = np.argsort(-V[:, i], kind="stable")[:7]
            np.testing.assert_allclose(modes.loadings[i], V[order, i], atol=100 * tolerance)
            if method != "randomized":
                np.testing.assert_array_equal(modes.indices[i], order)
        assert modes.method == method and modes.n == X.shape[0]


def test_each_cluster_is_a_mode():
    X = clusters(sizes=(50, 50, 50, 50), spread=0.5, gap=20.0)
    modes = gm.diversity_modes(X, kernel="rbf", bandwidth=4.0, n_modes=4, per_mode=10)
    assert sorted(set(modes.indices.ravel() // 50)) == [0, 1, 2, 3]
    for rows in modes.indices:  # all of a mode's samples come from one cluster
        assert len(set(rows // 50)) == 1
    assert np.all((modes.eigenvalues > 0.2) & (modes.eigenvalues <= 0.25))  # a quarter of the mass, less the blur
    assert (modes.loadings > 0).all()  # signed positive; Perron vectors of the blocks


def test_auto_method_and_float32():
    X = clusters().astype(np.float32)
    assert gm.diversity_modes(X).method == "dual"  # cosine, d < n
    assert gm.diversity_modes(X, kernel="rbf").method == "exact"
    w, _ = reference_modes(X, "cosine", None, 4)
    np.testing.assert_allclose(gm.diversity_modes(X, n_modes=4).eigenvalues, w, rtol=1e-5)


def test_modes_plot_and_repr():
    pytest.importorskip("matplotlib")
    modes = gm.diversity_modes(clusters(), kernel="rbf", bandwidth=6.0, n_modes=3, per_mode=4)
    ax = modes.plot()
    assert len(ax.patches) == 3
    assert "rbf" in repr(modes) and "n=90" in repr(modes)


def test_modes_errors():
    X = clusters()
    with pytest.raises(ValueError, match="^n_modes"):
        gm.diversity_modes(X, n_modes=0)
    with pytest.raises(ValueError, match="^per_mode"):
        gm.diversity_modes(X, per_mode=91)
    with pytest.raises(ValueError, match="^method"):
        gm.diversity_modes(X, kernel="rbf", method="dual")
    with pytest.raises(ValueError, match="^method"):
        gm.diversity_modes(X, method="svd")
    with pytest.raises(ValueError, match="^X"):
        gm.diversity_modes(np.zeros((5, 3)), kernel="linear")
