"""The engine's primitives as public functions: Gram matrices and fused kernel reductions."""
from __future__ import annotations

from ._array import array_namespace, to_float
from ._backend import get_backend
from ._kernels import prepare_inputs, resolve_kernel
from ._validation import check_embeddings, check_nonzero_rows, check_order, check_pair


def _inputs(X, Y, kernel, bandwidth, kernel_params, scale_invariant=False):
    """Validate (X, Y), resolve the kernel (bandwidth from X), and prepare what the engines compute on.

    Returns (spec, engine_spec, X, Y): ``spec`` as the user sees it (the bandwidth chosen), ``engine_spec``
    with the bandwidth in the units of the shifted and rescaled arrays (see ``_kernels.prepare_inputs``).
    """
    if Y is None:
        X = check_embeddings(X, "X")
    else:
        X, Y = check_pair(X, Y)
    spec = resolve_kernel(kernel, X, bandwidth, **kernel_params)
    if Y is not None and spec.name == "cosine":
        check_nonzero_rows(Y, "Y")
    engine_spec, X, Y = prepare_inputs(spec, X, Y, scale_invariant)
    return spec, engine_spec, X, Y


def check_finite_result(value, spec, name="X"):
    """Linear and polynomial kernels are computed as given: their values can overflow."""
    xp = array_namespace(value)
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(
            f"{name}: the {spec.name} kernel overflows for these values; rescale the embeddings "
            "(or use a scale-free kernel such as cosine)"
        )
    return value


def gram(X, Y=None, kernel="cosine", bandwidth=None, backend=None, **kernel_params):
    """The kernel matrix K[i, j] = k(x_i, y_j).

    Parameters
    ----------
    X : array (n, d)
    Y : array (m, d), optional
        Defaults to ``X``; then only the tiles on and above the diagonal are computed and mirrored.
    kernel : {"cosine", "linear", "rbf" ("gaussian"), "laplacian", "polynomial"}
        Conventions in :mod:`genmetrics._kernels` (rbf: exp(-|x-y|^2 / (2 bandwidth^2))).
    bandwidth : float, optional
        sigma of rbf/laplacian; None chooses the median pairwise distance of a seeded subsample of X.
    backend : {"cpu", "numpy"}, optional
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    array (n, m) of the inputs' dtype (float32 or float64).
    """
    engine = get_backend(backend)
    spec, engine_spec, X, Y = _inputs(X, Y, kernel, bandwidth, kernel_params)
    return check_finite_result(engine.gram(engine_spec, X, Y), spec)


def kernel_sum(X, Y=None, kernel="cosine", bandwidth=None, power=1, backend=None, **kernel_params) -> float:
    """sum_ij k(x_i, y_j)^power, accumulated in float64, without ever holding the n x m matrix.

    ``power`` may be any real >= 0; a non-integer power of a negative kernel value (cosine, linear) is
    undefined and raises ValueError. Other parameters as in :func:`gram`.
    """
    engine = get_backend(backend)
    power = check_order(power, "power")
    if power == float("inf"):
        raise ValueError("power: must be finite")
    spec, engine_spec, X, Y = _inputs(X, Y, kernel, bandwidth, kernel_params)
    return to_float(check_finite_result(row_sums_checked(engine, engine_spec, X, Y, power).sum(), spec))


def row_sums_checked(engine, spec, X, Y, power, name="power"):
    """Row sums of k^power from the engine, with a named error for negative values under a fractional power."""
    sums, ok = engine.kernel_row_sums(spec, X, Y, power)
    if not ok:
        raise ValueError(
            f"{name}: {power} is not an integer and the {spec.name} kernel has negative values here; "
            "a fractional power of a negative number is undefined"
        )
    return sums
