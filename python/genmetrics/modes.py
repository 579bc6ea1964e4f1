"""The modes behind a diversity score: the top eigenvectors of K / trace(K) and the samples that load on them.

A Vendi or RKE score is a function of the eigenvalues of the normalised kernel matrix A = K / trace(K); each
eigenvalue is the weight of one "mode" of the set, and its eigenvector says which samples make that mode (the view
of FKEA, Ospanov, Zhang & Farnia 2024). :func:`diversity_modes` returns, for the largest ``n_modes`` eigenvalues,
the eigenvalue (the mode's share of the diversity mass) and the ``per_mode`` samples with the largest loadings,
so that a user can look at what a mode is (show those images, prompts or molecules).
"""

from __future__ import annotations

import numpy as np

from .diversity import AUTO_EXACT_MAX_N
from .engine import get_backend
from .engine.kernels import kernel_diagonal, kernel_inputs
from .engine.spectral import dual_gram, linalg_call
from .engine.stochastic import randomized_eigenpairs
from .support.arrays import array_namespace, to_float, to_host
from .support.results import DiversityModes
from .support.validation import check_choice, check_int

METHODS = ("auto", "exact", "dual", "randomized")
#: subspace iterations of the randomized eigensolver (each one pass of K.V over the pairs)
MODE_ITERATIONS = 4
#: extra columns of its block, beyond the modes asked for
MODE_OVERSAMPLING = 10


def diversity_modes(
    X,
    *,
    kernel="cosine",
    bandwidth=None,
    n_modes=None,
    per_mode=None,
    method="auto",
    seed=0,
    backend=None,
    **kernel_params,
) -> DiversityModes:
    r"""The top eigenvectors of K / trace(K) and, for each, the samples that load most on it.

    With A = K / trace(K) = sum_i lambda_i u_i u_i^T (lambda_1 >= lambda_2 >= ...), mode i has weight lambda_i
    (the eigenvalues the Vendi scores are computed from; they sum to 1) and loading u_i[j] on sample j. Each u_i
    is signed so that its largest-magnitude entry is positive, and the mode's samples are the ``per_mode`` largest
    entries of u_i: for an rbf kernel and separated clusters, mode i is one cluster and its samples are its most
    central members (the first eigenvector of a positive kernel matrix is positive, Perron-Frobenius); later
    eigenvectors of overlapping modes are contrasts, whose negative side is the next mode's.

    Parameters
    ----------
    X : array (n, d)
    kernel : {"cosine", "linear", "rbf", "laplacian", "polynomial"}, default "cosine"
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None: the median heuristic of :func:`genmetrics.vendi`.
    n_modes : int, 1 <= n_modes <= n, default None
        None: min(10, n).
    per_mode : int, 1 <= per_mode <= n, default None
        None: min(16, n).
    method : {"auto", "exact", "dual", "randomized"}, default "auto"
        exact: dense eigenvectors of K, O(n^2 d + n^3), O(n^2) memory. dual: linear/cosine, from the d x d
        X^T X (u_i = X v_i / sqrt(mu_i)), exact, O(n d^2 + d^3). randomized: subspace iteration through the
        fused K.V (``MODE_ITERATIONS`` passes over the pairs, O(n (n_modes + 10)) memory); the result's
        ``residuals`` (||A u - lambda u|| per mode) say how well each pair converged. auto: dual when it applies
        and d < n, exact up to 5,000 samples, else randomized.
    seed : int, default 0
        The randomized method's starting block.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    DiversityModes
        ``eigenvalues`` (n_modes,), ``indices`` and ``loadings`` (n_modes x per_mode: sample indices, largest
        loading first, and their loadings), ``residuals``, ``method``, ``kernel``, ``bandwidth``, ``n``;
        ``.plot()`` draws the modes' weights with their samples' indices.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> centers = rng.normal(size=(3, 8)) * 10
    >>> X = np.concatenate([c + rng.normal(size=(40, 8)) for c in centers])  # rows 0-39, 40-79, 80-119
    >>> modes = gm.diversity_modes(X, kernel="rbf", bandwidth=8.0, n_modes=3, per_mode=5)
    >>> print(np.round(modes.eigenvalues, 2))  # three modes of about a third of the mass each
    [0.3  0.3  0.29]
    >>> sorted(int(i) // 40 for i in modes.indices[:, 0])  # each mode is one cluster
    [0, 1, 2]
    """
    engine = get_backend(backend, X)
    spec, engine_spec, X, _ = kernel_inputs(X, None, kernel, bandwidth, kernel_params, False, engine.device)
    n, d = X.shape
    n_modes = min(10, n) if n_modes is None else check_int(n_modes, "n_modes", low=1, high=n)
    per_mode = min(16, n) if per_mode is None else check_int(per_mode, "per_mode", low=1, high=n)
    method = check_choice(method, "method", METHODS)
    seed = check_int(seed, "seed", low=0)
    dot_product = spec.name in ("linear", "cosine")
    if method == "dual" and not dot_product:
        raise ValueError(f"method: 'dual' needs a linear or cosine kernel, not {spec.name!r}")
    if method == "auto":
        method = "dual" if dot_product and d < n else ("exact" if n <= AUTO_EXACT_MAX_N else "randomized")
    trace = to_float(kernel_diagonal(engine_spec, X).sum())
    if not trace > 0:
        raise ValueError("X: the kernel matrix has no positive eigenvalue (its trace is 0)")
    xp = array_namespace(X)
    if method == "exact":
        w, U = linalg_call(xp.linalg.eigh, engine.gram(engine_spec, X).astype(xp.float64) / trace, "X")
        w, U = w[::-1][:n_modes], U[:, ::-1][:, :n_modes]
    elif method == "dual":
        mu, V = linalg_call(xp.linalg.eigh, dual_gram(engine, engine_spec, X) / trace, "X")
        mu, V = mu[::-1][:n_modes], V[:, ::-1][:, :n_modes]
        rows = X.astype(xp.float64)
        if spec.name == "cosine":
            rows = rows / xp.linalg.norm(rows, axis=1, keepdims=True)
        w = xp.clip(mu, 0.0, None)
        U = (rows @ V) / xp.sqrt(xp.where(w > 0, w * trace, 1.0))[None, :]
    else:

        def apply(V):
            return engine.kernel_matvec(engine_spec, X, None, V) / trace

        block = min(n, n_modes + MODE_OVERSAMPLING)
        U, w, AU = randomized_eigenpairs(apply, X, block, MODE_ITERATIONS, np.random.default_rng(seed))
        w, U, AU = w[:n_modes], U[:, :n_modes], AU[:, :n_modes]
    eigenvalues = np.clip(to_host(w), 0.0, None).astype(np.float64)
    U = to_host(U).astype(np.float64)
    if method == "randomized":
        residuals = np.linalg.norm(to_host(AU) - U * eigenvalues[None, :], axis=0)
    else:
        residuals = np.zeros(eigenvalues.size)
    # the sign of an eigenvector is arbitrary: the largest-magnitude entry is made positive
    columns = np.arange(U.shape[1])
    U = U * np.sign(U[np.argmax(np.abs(U), axis=0), columns])[None, :]
    order = np.argsort(-U, axis=0, kind="stable")[:per_mode].T  # (n_modes, per_mode)
    return DiversityModes(
        eigenvalues=eigenvalues,
        indices=order.astype(np.int64),
        loadings=np.take_along_axis(U.T, order, axis=1),
        residuals=residuals,
        method=method,
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        n=n,
    )
