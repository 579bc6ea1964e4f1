"""The engine's primitives as public functions: Gram matrices, fused kernel reductions, k-NN and radius queries.

Backends and precision. ``cpu`` (C++, OpenBLAS) and ``cuda`` (cuBLAS through CuPy, ``genmetrics._cuda``
epilogues) compute products in the inputs' dtype, float32 or float64, and accumulate every sum in float64;
``numpy`` and ``cupy`` run the same array code (float64 distance tiles). On the GPU the float32 products are
FP32 GEMMs: CuPy uses TF32 tensor cores only when its ``CUPY_TF32=1`` switch is set, and then kernel values carry
TF32's input rounding (unit roundoff 2^-11, about 5e-4 relative per product term, against 6e-8 for FP32; not
measured here) while k-NN and radius decisions stay exact, because the distance margins widen to TF32's
rounding and more comparisons are re-checked in float64. Results come back as Python floats, or as arrays on
the engine's device: CuPy arrays from ``cuda``/``cupy`` (GPU inputs go there by default), NumPy arrays from
``cpu``/``numpy``; a backend named explicitly takes the inputs to its device first.
"""

from __future__ import annotations

from .engine import get_backend
from .engine.kernels import kernel_inputs
from .engine.protocol import BallQuery
from .support.arrays import array_namespace, to_float
from .support.results import RadiusQuery, Score
from .support.validation import (
    check_bool,
    check_embeddings,
    check_neighbor_count,
    check_order,
    check_pair,
    check_radii,
)


def check_finite_result(value, spec, name="X"):
    """Linear and polynomial kernels are computed as given: their values can overflow."""
    xp = array_namespace(value)
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(
            f"{name}: the {spec.name} kernel overflows for these values; rescale the embeddings "
            "(or use a scale-free kernel such as cosine)"
        )
    return value


def gram(X, Y=None, *, kernel="cosine", bandwidth=None, backend=None, **kernel_params):
    """The kernel matrix K[i, j] = k(x_i, y_j).

    Parameters
    ----------
    X : array (n, d)
    Y : array (m, d), optional, default None
        Defaults to ``X``; then only the tiles on and above the diagonal are computed and mirrored.
    kernel : {"cosine", "linear", "rbf" ("gaussian"), "laplacian", "polynomial"}, default "cosine"
        Conventions in :mod:`genmetrics.engine.kernels` (rbf: exp(-|x-y|^2 / (2 bandwidth^2))).
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None chooses the median pairwise distance of a seeded subsample of X.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    array (n, m) of the inputs' dtype (float32 or float64).
    """
    engine = get_backend(backend, X, Y)
    if Y is None:
        X = check_embeddings(X, "X", device=engine.device)
    else:
        X, Y = check_pair(X, Y, device=engine.device)
    dtype = X.dtype
    spec, engine_spec, X, Y = kernel_inputs(X, Y, kernel, bandwidth, kernel_params, device=engine.device)
    # the engine may compute in float64 where float32 cannot hold the tiles (see engine.kernels.prepare_inputs)
    return check_finite_result(engine.gram(engine_spec, X, Y), spec).astype(dtype, copy=False)


def kernel_sum(X, Y=None, *, kernel="cosine", bandwidth=None, power=1, backend=None, **kernel_params) -> Score:
    """sum_ij k(x_i, y_j)^power, accumulated in float64, without ever holding the n x m matrix.

    ``power`` may be any real >= 0; a non-integer power of a negative kernel value (cosine, linear) is
    undefined and raises ValueError.

    Parameters
    ----------
    X : array (n, d)
    Y : array (m, d), optional, default None
        None: X against itself.
    kernel : {"cosine", "linear", "rbf" ("gaussian"), "laplacian", "polynomial"}, default "cosine"
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None: the median heuristic on X.
    power : float >= 0, finite, default 1
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
        The sum, with ``.kernel``, ``.bandwidth`` and ``.details["power"]``.
    """
    engine = get_backend(backend, X, Y)
    power = check_order(power, "power")
    if power == float("inf"):
        raise ValueError("power: must be finite")
    spec, engine_spec, X, Y = kernel_inputs(X, Y, kernel, bandwidth, kernel_params, device=engine.device)
    total = to_float(check_finite_result(row_sums_checked(engine, engine_spec, X, Y, power).sum(), spec))
    return Score(
        total,
        metric="kernel_sum",
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        backend=engine.name,
        n=X.shape[0],
        m=None if Y is None else Y.shape[0],
        details={"power": power},
    )


def row_sums_checked(engine, spec, X, Y, power, name="power"):
    """Row sums of k^power from the engine, with a named error for negative values under a fractional power."""
    sums, ok = engine.kernel_row_sums(spec, X, Y, power)
    if not ok:
        raise ValueError(
            f"{name}: {power} is not an integer and the {spec.name} kernel has negative values here; "
            "a fractional power of a negative number is undefined"
        )
    return sums


# ----------------------------------------------------------------------------------------------------------
# distances: k nearest neighbours and radius queries
# ----------------------------------------------------------------------------------------------------------


def knn(X, Y=None, *, k=5, backend=None):
    """The k nearest neighbours (Euclidean) in ``X`` of every row of ``Y``, exact.

    Parameters
    ----------
    X : array (n, d)
        The reference set.
    Y : array (m, d), optional, default None
        The queries. ``None``: the rows of ``X`` against ``X`` itself, each point excluded from its own
        neighbours by index (a duplicate of it still counts, at distance 0).
    k : int, default 5
        1 <= k <= n (k <= n - 1 when ``Y`` is None).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    distances : float64 array (m, k)
        Ascending. d(x, y) = sqrt(sum((x - y)^2)) in float64 from explicit differences, whatever the input
        dtype: the engine finds candidates on fast float32/float64 tiles and re-checks in float64 every
        candidate whose order its rounding could change, so the neighbours are those of the float64 distance.
    indices : int64 array (m, k)
        Rows of ``X``; equal distances are ordered by the lower index.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> distances, indices = gm.knn(X, np.array([[0.9, 0.0]]), k=2)
    >>> indices
    array([[1, 0]])
    >>> np.round(distances, 3)
    array([[0.1, 0.9]])
    >>> gm.knn(X, k=1)[1].ravel()  # Y=None: each point's nearest other point
    array([1, 0, 1])
    """
    engine = get_backend(backend, X, Y)
    if Y is None:
        X = check_embeddings(X, "X", device=engine.device)
        k = check_neighbor_count(k, X.shape[0] - 1, what="X (without the point itself)")
        (points,) = engine.points(X)
        return engine.knn(points, None, k)
    X, Y = check_pair(X, Y, device=engine.device)
    k = check_neighbor_count(k, X.shape[0])
    refs, queries = engine.points(X, Y, names=("X", "Y"))
    return engine.knn(queries, refs, k)


def radius_query(X, Y, radii, *, inclusive=False, backend=None) -> RadiusQuery:
    """Per-reference radius queries: which balls B(x_i, radii[i]) hold each query y_j, in one pass.

    Parameters
    ----------
    X : array (n, d)
        Reference points, the centers of the balls.
    Y : array (m, d)
        Queries.
    radii : array (n,)
        One radius per reference, finite and >= 0.
    inclusive : bool, default False
        ``False``: inside means d(x_i, y_j) < radii[i] (prdc's convention); ``True``: <= (improved
        precision/recall's).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    RadiusQuery
        ``counts``, ``any``, ``nearest_index``, ``nearest_distance`` per query. Decisions are those of the
        float64 distance (see :func:`knn`); comparisons that fall within the fast tiles' rounding margin of a
        radius are re-checked in float64.
    """
    engine = get_backend(backend, X, Y)
    X, Y = check_pair(X, Y, device=engine.device)
    radii = check_radii(radii, X.shape[0])
    inclusive = check_bool(inclusive, "inclusive")
    refs, queries = engine.points(X, Y, names=("X", "Y"))
    in_balls, _ = engine.ball_query(
        queries, refs, inclusive=inclusive, a_queries=BallQuery(ball_radius=radii, nearest=True)
    )
    counts = in_balls.counts
    return RadiusQuery(
        counts=counts, any=counts > 0, nearest_index=in_balls.nearest_index, nearest_distance=in_balls.nearest_distance
    )
