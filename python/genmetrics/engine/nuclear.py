"""The nuclear norm of a cross-kernel matrix, ||K(X, Y) / sqrt(n m)||_*, without holding the n x m matrix.

||A||_* = sum of the singular values of A = tr sqrt(A A^T). Two methods, both reaching K only through the engine
protocol (``gram`` on column blocks, ``kernel_matvec``), so every backend (cpu, numpy, cuda, cupy) runs them:

- :func:`exact_nuclear_norm`: G = A A^T (or A^T A, whichever is smaller: s = min(n, m)) accumulated in float64
  over column blocks of the larger side, G += A_b A_b^T, then one dense symmetric eigensolve of G (s x s) and
  ||A||_* = sum_i sqrt(lambda_i). Memory O(s^2 + s * block), time O(n m d + s^2 max(n, m) + s^3). Squaring costs
  digits: an eigenvalue of G is known to ~ eps ||G||, so sqrt(lambda) of an eigenvalue below ~1e-8 lambda_max
  would carry an error up to ~ sqrt(eps) sigma_max. Those are refined: with V_S the eigenvectors of the small
  eigenvalues, the singular values of V_S^T A (t x max(n, m), streamed through a second pass of blocks into the
  R factor of a QR, then an SVD of R) are the small singular values of A to ~ eps sigma_max, as a direct SVD of A
  gives them. Zero rows and zero columns of A (kernel values that underflow) carry no singular value and are
  dropped before the eigensolve.
- :func:`stochastic_nuclear_norm`: tr f(B) with f = sqrt and B = A A^T / (n m), by the deflated stochastic
  Lanczos quadrature of :func:`genmetrics.engine.stochastic.operator_trace` (the estimator of Vendi's
  method="stochastic", q = 1/2): the top eigenvectors of B deflated, Rademacher probes on the rest, each quadratic
  form bracketed by its Gauss and Gauss-Radau rules, every start vector in lockstep so that each Lanczos step is
  one fused K V pass each way (B V = A (A^T V)). The interval is the quadrature bracket widened by Student's t on
  the probes; without ``probes``, probes are added until its half-width is ``rtol`` of the norm. Memory
  O(s (rank + probes)).
"""

from __future__ import annotations

import ctypes
import math
import os
from dataclasses import dataclass

import numpy as np

from ..support.arrays import array_namespace, to_float, to_host
from .kernels import KernelSpec
from .spectral import linalg_call
from .stochastic import CountedOperator, operator_trace

#: method="auto" is exact while min(n, m) is at most this (G is s x s float64: 800 MB at 10,000).
EXACT_MAX = 10_000
#: Bytes of one float64 block of kernel values (s rows x a block of columns) held at a time.
BLOCK_BYTES = 64 * 2**20
#: Eigenvalues of G below this fraction of the largest (singular values below 1e-4 sigma_max) are refined by the
#: orthogonal second pass; the rest, as sqrt(lambda), keep the norm within ~1e-11 relative of a float64 SVD
#: (measured on rank-deficient rbf/laplacian cases; 1e-6 gives ~3e-13 at more refinement work).
SMALL_EIGENVALUE = 1e-8
#: Defaults of the stochastic method: deflated eigenvectors, the most Lanczos steps a probe, and the relative
#: half-width of the norm's interval at which the probes stop (``probes=None``).
DEFAULT_RANK = 50
DEFAULT_STEPS = 60
DEFAULT_RTOL = 0.005
#: Two-sided confidence of the stochastic interval.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class NuclearNorm:
    """||K(X, Y) / sqrt(n m)||_* as ``log_value`` (its log: the norm itself may under- or overflow; -inf when
    it is 0), with the method and, for the stochastic method, the interval and the work done."""

    log_value: float
    method: str
    ci_low: float | None = None  # interval of the norm itself (stochastic only)
    ci_high: float | None = None
    rank: int | None = None
    probes: int | None = None
    steps: int | None = None
    matvecs: int | None = None  # products B v (each two fused passes over the n x m pairs)
    refined: int = 0  # exact: singular values computed by the orthogonal refinement


def nuclear_norm(engine, spec: KernelSpec, X, Y, *, method="auto", seed=0, rank=None, probes=None, name="X, Y"):
    """||K(X, Y) / sqrt(n m)||_* by ``method`` ("auto": exact when min(n, m) <= EXACT_MAX, else stochastic)."""
    if method == "auto":
        method = "exact" if min(X.shape[0], Y.shape[0]) <= EXACT_MAX else "stochastic"
    if method == "exact":
        return exact_nuclear_norm(engine, spec, X, Y, name=name)
    return stochastic_nuclear_norm(engine, spec, X, Y, seed=seed, rank=rank, probes=probes, name=name)


# ----------------------------------------------------------------------------------------------------------
# exact: the Gram of the smaller side, a symmetric eigensolve, an orthogonal pass for the small singular values
# ----------------------------------------------------------------------------------------------------------


def _sides(X, Y):
    """(S, L, swapped): S the smaller set (the rows of G), L the larger; K(S, L) is K(X, Y) or its transpose."""
    return (X, Y, False) if X.shape[0] <= Y.shape[0] else (Y, X, True)


def _blocks(engine, spec, S, L, swapped, name, block_bytes):
    """Yield float64 blocks K(S, L_b), checked finite. Swapped (S is Y): K(X_b, Y)^T, so that the values are those
    of K(X, Y) to the bit even in float32 (K(Y, X) rounds its row factors on the other side)."""
    xp = array_namespace(S)
    width = max(1, block_bytes // (8 * S.shape[0]))
    for start in range(0, L.shape[0], width):
        if swapped:
            B = engine.gram(spec, L[start : start + width], S).T.astype(xp.float64)
        else:
            B = engine.gram(spec, S, L[start : start + width]).astype(xp.float64)
        if not bool(xp.all(xp.isfinite(B))):
            raise ValueError(
                f"{name}: the {spec.name} kernel overflows for these values; rescale the embeddings "
                "(or use a scale-free kernel such as cosine)"
            )
        yield B


def exact_nuclear_norm(engine, spec: KernelSpec, X, Y, *, name="X, Y", block_bytes=None) -> NuclearNorm:
    """||K(X, Y) / sqrt(n m)||_* from the eigenvalues of the s x s Gram of the smaller side (module docstring)."""
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    S, L, swapped = _sides(X, Y)
    xp = array_namespace(S)
    s = S.shape[0]
    # G = sum_b (B_b / scale)(B_b / scale)^T with scale the largest |k| met so far: no overflow of k^2 for
    # linear/polynomial values, no underflow of tiny rbf values; the norm is scale * sum sqrt(lambda(G)).
    G = xp.zeros((s, s), dtype=xp.float64)
    scale = 0.0
    for B in _blocks(engine, spec, S, L, swapped, name, block_bytes):
        nonzero = xp.any(B != 0, axis=0)
        if not bool(xp.all(nonzero)):
            B = B[:, nonzero]
        if B.shape[1] == 0:
            continue
        top = to_float(xp.max(xp.abs(B)))
        if top > scale:
            if scale > 0:
                G *= (scale / top) ** 2
            scale = top
        B /= scale
        G += B @ B.T
    if scale == 0.0:  # every kernel value is 0 (underflow): the norm is 0
        return NuclearNorm(-math.inf, "exact")
    keep = xp.diagonal(G) > 0
    all_kept = bool(xp.all(keep))
    if not all_kept:
        G = G[keep][:, keep]
    w = to_host(_eigvalsh(G, name))
    w_max = float(w[-1])
    small = w < SMALL_EIGENVALUE * w_max
    t = int(small.sum())
    total = float(np.sqrt(w[~small]).sum())
    if t:
        total += _small_singular_values(
            engine, spec, S, L, swapped, G, keep if not all_kept else None, t, scale, name, block_bytes
        )
    log_value = math.log(total) + math.log(scale) - 0.5 * math.log(X.shape[0]) - 0.5 * math.log(Y.shape[0])
    return NuclearNorm(log_value, "exact", refined=t)


def _small_singular_values(engine, spec, S, L, swapped, G, keep, t, scale, name, block_bytes) -> float:
    """Sum of the singular values of V_S^T K(S, L) / scale, V_S the eigenvectors of G's t smallest eigenvalues:
    a second pass of blocks, each folded into the R factor of a QR of (V_S^T K)^T, then an SVD of R (t x t)."""
    xp = array_namespace(S)
    _, V = linalg_call(xp.linalg.eigh, G, name)
    V = V[:, :t]  # ascending: the t small ones
    R = xp.zeros((0, t), dtype=xp.float64)
    for B in _blocks(engine, spec, S, L, swapped, name, block_bytes):
        if keep is not None:
            B = B[keep]
        B /= scale
        R = linalg_call(xp.linalg.qr, xp.concatenate([R, (V.T @ B).T]), name, mode="r")
    sv = linalg_call(xp.linalg.svd, R, name, compute_uv=False)
    return to_float(sv.sum())


_LAPACKE = None


def _lapacke_eigvalsh():
    """LAPACKE dsyevd_2stage of the OpenBLAS the engine links (scipy-openblas32), or None where it is absent.

    Eigenvalues only: the 2-stage tridiagonalisation is mostly BLAS 3, about twice as fast as NumPy's dsyevd
    at s = 4,000 here."""
    global _LAPACKE
    if _LAPACKE is None:
        _LAPACKE = False
        try:
            import scipy_openblas32

            lib_dir = scipy_openblas32.get_lib_dir()
            lib_name = next(f for f in os.listdir(lib_dir) if f.startswith("libscipy_openblas"))
            lib = ctypes.CDLL(os.path.join(lib_dir, lib_name), mode=ctypes.RTLD_LOCAL)
            function = lib.scipy_LAPACKE_dsyevd_2stage
            function.restype = ctypes.c_int
            function.argtypes = [
                ctypes.c_int,
                ctypes.c_char,
                ctypes.c_char,
                ctypes.c_int,
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_void_p,
            ]
            _LAPACKE = function
        except Exception:  # another BLAS: NumPy's eigensolver
            pass
    return _LAPACKE or None


def _eigvalsh(G, name):
    """Eigenvalues of the symmetric float64 matrix G, ascending."""
    xp = array_namespace(G)
    function = _lapacke_eigvalsh() if xp is np and 0 < G.shape[0] < 2**15 else None
    if function is not None:
        if not bool(np.all(np.isfinite(G))):
            raise ValueError(f"{name}: an intermediate matrix overflows float64 (|values| too large?); rescale it")
        A = np.array(G, dtype=np.float64, order="C")  # a copy: LAPACK overwrites it, the refinement needs G
        w = np.empty(A.shape[0])
        info = function(101, b"N", b"L", A.shape[0], A.ctypes.data, A.shape[0], w.ctypes.data)
        if info == 0 and np.all(np.isfinite(w)):
            return w
    return linalg_call(xp.linalg.eigvalsh, G, name)


# ----------------------------------------------------------------------------------------------------------
# stochastic: deflated Lanczos quadrature of tr sqrt(A A^T)
# ----------------------------------------------------------------------------------------------------------


def stochastic_nuclear_norm(
    engine, spec: KernelSpec, X, Y, *, seed=0, rank=None, probes=None, rtol=DEFAULT_RTOL, name="X, Y"
) -> NuclearNorm:
    """||K(X, Y) / sqrt(n m)||_* = tr sqrt(B), B = K(S, L) K(L, S) / (n m), by the deflated stochastic Lanczos
    quadrature of :func:`genmetrics.engine.stochastic.operator_trace` (q = 1/2: f = sqrt)."""
    S, L, _ = _sides(X, Y)
    s = S.shape[0]
    n, m = X.shape[0], Y.shape[0]
    rank = min(DEFAULT_RANK if rank is None else rank, s // 2)
    xp = array_namespace(S)

    def product(V):  # B V = A (A^T V) / (n m): two fused K V passes
        out = engine.kernel_matvec(spec, S, L, engine.kernel_matvec(spec, L, S, V)) / (float(n) * float(m))
        if not bool(xp.all(xp.isfinite(out))):
            raise ValueError(f"{name}: the {spec.name} kernel overflows for these values; rescale the embeddings")
        return out

    # operator_trace's rtol is on VS_1/2 = (tr sqrt B)^2, whose relative width is twice the norm's
    result = operator_trace(
        CountedOperator(product),
        S,
        0.5,
        rank=rank,
        seed=seed,
        probes=probes,
        rtol=2.0 * rtol,
        level=CONFIDENCE,
        max_steps=min(DEFAULT_STEPS, s),
        pass_cost=2.0 * S.shape[1],
    )
    value = result.estimate
    log_value = math.log(value) if value > 0 else -math.inf
    return NuclearNorm(
        log_value,
        "stochastic",
        ci_low=max(result.low, 0.0),
        ci_high=max(result.high, 0.0),
        rank=rank,
        probes=result.probes,
        steps=result.steps,
        matvecs=result.matvecs,
    )
