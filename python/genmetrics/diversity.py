"""Diversity of one set of embeddings: the Vendi family and the Renyi kernel entropies.

Every score here is a function of the spectrum lambda_1..lambda_n of K / trace(K), K the kernel matrix of
X (for kernels with k(x, x) = 1, trace(K) = n and this is K / n; shared/METRICS.md).

- Vendi score of order q (Friedman & Dieng 2023; Pasarkar & Dieng 2024):
  VS_q = exp(H_q), H_q = log(sum_i lambda_i^q) / (1 - q), H_1 = -sum_i lambda_i log lambda_i,
  H_inf = -log lambda_max, H_0 = log rank(K).
- RKE mode count (Jalali et al. 2023): RKE-MC = 1 / sum_i lambda_i^2 = trace(K)^2 / sum_ij k_ij^2 = VS_2.
- Relative RKE: RRKE(X, Y) = -log ||K_XY / sqrt(n m)||_*^2 (nuclear norm).
- Internal diversity: intdiv_q = 1 - (1 / n^2) sum_ij k_ij^q.

Plug-in Vendi and RKE grow with the sample size n (Farnia, Jalali & Ospanov 2026): compare sets at equal n.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .engine import get_backend, spectral, stochastic
from .engine.kernels import kernel_diagonal, kernel_inputs, power_of_two_scale
from .engine.spectral import Spectrum
from .primitives import check_finite_result, row_sums_checked
from .support.arrays import array_namespace, to_float, to_host
from .support.results import Score
from .support.validation import (
    as_real_array,
    check_choice,
    check_embeddings,
    check_fraction,
    check_int,
    check_order,
)

METHODS = ("auto", "exact", "dual", "nystrom", "rff", "stochastic")
#: method="auto" computes the dense eigendecomposition up to this many samples (about 10 s here), and
#: switches to the stochastic estimator above it (for kernels without a dual form and q != 2).
AUTO_EXACT_MAX_N = 5000
#: Default rank of the approximate methods (landmarks for nystrom, frequencies for rff).
DEFAULT_RANK = 1000
#: Default number of eigenpairs method="stochastic" deflates (raised to ``truncation`` when that is larger).
DEFAULT_STOCHASTIC_RANK = 100
#: Default subspace iterations of method="stochastic" (nystrom's default is 0).
DEFAULT_STOCHASTIC_N_ITER = 2
#: Memory method="stochastic" may use for its deflation blocks when it raises the rank by itself (about six n x
#: rank float64 blocks live at once); a rank passed explicitly is not capped.
MAX_DEFLATION_BYTES = 4 * 2**30
#: Most Hutchinson probes method="stochastic" takes when it adapts them to ``rtol``.
MAX_PROBES = 512
#: Level of the confidence interval of method="stochastic".
CI_LEVEL = 0.95
#: Most random Fourier frequencies method="rff" takes: the features alone are n x 2 rank float64
#: (1.6 GB per 1000 samples at this rank), and the error already shrinks as 1/sqrt(rank).
MAX_RFF_RANK = 100_000
#: Most subspace iterations after the Nystrom step: each costs O(n^2 (d + rank)), and a few (2 to 10)
#: already converge the leading eigenvalues; more than this is a mistake, not a refinement.
MAX_N_ITER = 100


def hill_number(spectrum: Spectrum, q: float) -> float:
    """exp(H_q) of a spectrum, with its tail mass spread evenly over its tail count.

    H_q = log(sum p^q) / (1 - q); H_1 = -sum p log p (0 log 0 = 0); H_inf = -log max p; H_0 = log #{p > 0}.

    Rank tolerance: for every q < 1 (q = 0 included) the eigenvalues p <= ``spectrum.zero_tolerance``
    (~ n eps lambda_max, shared/METRICS.md) are set to 0 and the rest renormalised to sum 1 (their mass is
    below n * tolerance). Orders below 1 weigh small eigenvalues up (p^q >> p), so n round-off eigenvalues
    of 1e-17 would otherwise count: VS_0.001 of a rank-7 set of 700 points would be 344, not 7. For q >= 1
    they contribute at most ~n * tolerance * log(1 / tolerance) and are kept, so no real small eigenvalue is
    cut there. With a tail (Nystrom), the tail's eigenvalues obey the same rule at their mean value.

    Computed with logarithms so that large q neither overflows nor underflows: for q > 1,
    H_q = -(log p_max + log(sum (p / p_max)^q) / q) / (1 - 1/q), which tends to H_inf without overflow
    (q = 1e308 gives 1 / p_max, never more than any smaller order); log1p/expm1 near q = 1 so that H_q tends
    to H_1 smoothly. The result is clamped to [1, n], the range of a Hill number of an n x n kernel matrix.
    """
    p = spectrum.eigenvalues
    tail_count = spectrum.tail_count
    tail_value = spectrum.tail_mass / tail_count if tail_count and spectrum.tail_mass > 0 else 0.0
    if q < 1:
        p = p[p > spectrum.zero_tolerance]
        if not tail_value > spectrum.zero_tolerance:
            tail_value = 0.0
        total = float(p.sum()) + tail_value * tail_count
        if not total > 0:  # nothing above round-off (cannot happen for a spectrum made here): one mode
            return 1.0
        p = p / total
        tail_value /= total
        if q == 0:
            nonzero = p.size + (tail_count if tail_value > 0 else 0)
            return float(min(max(nonzero, 1), spectrum.size))
    tail_mass = tail_value * tail_count
    largest = max(float(p[0]) if p.size else 0.0, tail_value)
    positive = p[p > 0]
    if math.isinf(q):
        value = math.exp(-math.log(largest))  # the same expression as the large-q limit below
    elif q == 1:
        entropy = -float((positive * np.log(positive)).sum())
        if tail_value > 0:
            entropy -= tail_mass * math.log(tail_value)
        value = math.exp(entropy)
    elif abs(q - 1) < 0.5:
        # sum p^q = sum p exp((q-1) log p) = 1 + sum p expm1((q-1) log p), since sum p = 1
        excess = float((positive * np.expm1((q - 1) * np.log(positive))).sum())
        if tail_value > 0:
            excess += tail_mass * math.expm1((q - 1) * math.log(tail_value))
        value = math.exp(math.log1p(excess) / (1.0 - q))
    else:
        # log sum p^q = q log(max p) + log S, S = sum (p / max p)^q >= 1
        scaled = float(((positive / largest) ** q).sum())
        if tail_value > 0:
            scaled += tail_count * (tail_value / largest) ** q
        if q < 1:
            value = math.exp((q * math.log(largest) + math.log(scaled)) / (1.0 - q))
        else:  # the same divided by q: q log(max p) overflows for q ~ 1e308
            value = math.exp(-(math.log(largest) + math.log(scaled) / q) / (1.0 - 1.0 / q))
    return min(max(value, 1.0), float(spectrum.size))


def _setup(X, kernel, bandwidth, backend, kernel_params, scale_invariant):
    engine = get_backend(backend, X)
    spec, engine_spec, X, _ = kernel_inputs(X, None, kernel, bandwidth, kernel_params, scale_invariant, engine.device)
    return engine, spec, engine_spec, X


def _choose_method(method, spec, n, d, q, rank, truncation=None):
    method = check_choice(method, "method", METHODS)
    if method == "dual" and spec.name not in ("linear", "cosine"):
        raise ValueError(f"method: 'dual' needs a linear or cosine kernel, not {spec.name!r}")
    if method == "rff" and spec.name not in ("rbf", "laplacian"):
        raise ValueError(f"method: 'rff' needs an rbf or laplacian kernel, not {spec.name!r}")
    if method == "auto":
        if rank is not None:
            method = "nystrom"
        elif spec.name in ("linear", "cosine") and d < n:
            method = "dual"  # O(n d^2); for q = 2 no eigendecomposition either
        elif q == 2 and truncation is None:
            method = "exact"  # computed from the fused sum of k^2, no eigendecomposition
        elif n <= AUTO_EXACT_MAX_N:
            method = "exact"
        elif q == 0:
            method = "nystrom"  # the rank has no stochastic estimate
        else:
            method = "stochastic"
    if method == "stochastic" and q == 0 and truncation is None:
        raise ValueError(
            "q: method='stochastic' estimates tr f(K/n) for q > 0; q = 0 (the rank) needs 'exact', 'dual' or 'nystrom'"
        )
    if rank is not None and method in ("exact", "dual"):
        raise ValueError(
            f"rank: only used by the approximate methods 'nystrom', 'rff' and 'stochastic', not {method!r}"
        )
    if method == "stochastic":
        default = max(DEFAULT_STOCHASTIC_RANK, 2 * (truncation or 0))
        rank = min(n, default) if rank is None else check_int(rank, "rank", low=1, high=n)
    elif method == "nystrom":
        rank = min(n, DEFAULT_RANK) if rank is None else check_int(rank, "rank", low=1, high=n)
    elif method == "rff":
        rank = DEFAULT_RANK if rank is None else check_int(rank, "rank", low=1, high=MAX_RFF_RANK)
    return method, rank


def _inverse_sum_of_squares(trace: float, squares: float) -> float:
    """1 / sum lambda^2 = trace(K)^2 / ||K||_F^2, with the zero matrix turned into a named error."""
    if not (trace > 0 and squares > 0):
        raise ValueError("X: the kernel matrix is zero (are all rows zero?); its spectrum is undefined")
    return trace * trace / squares


def _sum_of_squares_score(engine, spec, X) -> float:
    """trace(K)^2 / sum_ij k_ij^2 from the fused reduction: no n x n memory, no eig."""
    trace = to_float(kernel_diagonal(spec, X).sum())
    squares = to_float(row_sums_checked(engine, spec, X, None, 2.0).sum())
    return _inverse_sum_of_squares(trace, squares)


def _dual_sum_of_squares_score(engine, spec, X) -> float:
    """Linear/cosine: ||K||_F = ||X^T X||_F and trace(K) = trace(X^T X), from the d x d dual in O(n d^2)."""
    C = spectral.dual_gram(engine, spec, X)
    xp = array_namespace(C)
    return _inverse_sum_of_squares(to_float(xp.trace(C)), to_float((C * C).sum()))


def _spectrum(engine, spec, X, method, rank, seed, n_iter):
    if method == "exact":
        return spectral.exact_spectrum(engine, spec, X)
    if method == "dual":
        return spectral.dual_spectrum(engine, spec, X)
    if method == "nystrom":
        return spectral.nystrom_spectrum(engine, spec, X, rank, seed, n_iter)
    return spectral.rff_spectrum(spec, X, rank, seed)


def vendi(
    X,
    *,
    q=1,
    kernel="cosine",
    bandwidth=None,
    method="auto",
    rank=None,
    seed=0,
    n_iter=None,
    rtol=0.01,
    probes=None,
    truncation=None,
    backend=None,
    **kernel_params,
) -> Score:
    """Vendi score of order q: the effective number of distinct samples in X.

    VS_q = exp(H_q) with H_q the Renyi entropy of order q of the eigenvalues lambda of K / trace(K)
    (Friedman & Dieng, "The Vendi Score", TMLR 2023; orders: Pasarkar & Dieng 2024):
    H_q = log(sum lambda^q) / (1 - q), H_1 = -sum lambda log lambda, H_inf = -log lambda_max,
    H_0 = log of the number of eigenvalues above n * eps * lambda_max (the round-off floor).
    1 <= VS_q <= n, non-increasing in q; m equal-size clusters of identical points give m at every q.
    Rank tolerance: for every q < 1 (not only q = 0) the eigenvalues at or below the round-off floor
    (n * eps * lambda_max, eps of the precision the spectrum was computed in; max(n, d) for the dual,
    max(n, 2 rank) * eps64 for rff) count as 0 and the rest are renormalised to sum 1, in every method but
    "stochastic" (which sees only K.V products, so it takes every eigenvalue, clipped at 0):
    otherwise round-off eigenvalues dominate sum lambda^q (a rank-7 set of 700 points would score 344 at
    q = 0.001). Orders q >= 1 use every eigenvalue (round-off ones change them by < n^2 eps log(1/eps)).

    Truncated Vendi (Ospanov & Farnia, "Do Vendi Scores Converge with Finite Samples?", UAI 2025):
    with ``truncation=t``, the top t eigenvalues lambda_1 >= ... >= lambda_t are kept and the remaining mass
    1 - sum_{i <= t} lambda_i is added to each of them equally, (1 - sum_{i <= t} lambda_i) / t, before VS_q is
    taken: 1 <= VS_q <= t. It converges at n = O(t) samples where plain Vendi with an rbf kernel keeps growing with
    n.

    Parameters
    ----------
    X : array (n, d)
        Embeddings, one row per sample. float32 or float64 (other real dtypes become float64).
    q : float >= 0, or np.inf / "inf", default 1
    kernel : {"cosine", "linear", "rbf", "laplacian", "polynomial"}, default "cosine"
        For kernels without k(x, x) = 1 (linear, polynomial) K is normalised by its trace.
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None: median pairwise distance of a seeded subsample of X (reported
        back as ``.bandwidth``).
    method : {"auto", "exact", "dual", "nystrom", "rff", "stochastic"}, default "auto"
        exact: dense eigenvalues of K, O(n^2 d + n^3) time and O(n^2) memory (for q = 2 the fused sum of
        k^2 instead: O(n^2 d) time, O(n) memory, no eigendecomposition).
        dual: linear/cosine only, eigenvalues of X^T X, O(n d^2 + d^3); exact.
        nystrom: ``rank`` landmark columns, O(n rank d + n rank^2), approximate; ``n_iter`` subspace
        iterations (each O(n^2 (d + rank))) sharpen it. ``.residual_mass`` bounds each computed eigenvalue's
        error (they are all under-estimated by at most it); it does **not** bound the error of VS_q: the missed
        mass is spread evenly over the n - rank eigenvalues not computed, which is exact for q = 2's sum of
        squares only up to that mass and biased for q <= 1 when the true tail is long and uneven (12 tight
        clusters, n = 3000, rank 300: VS_1 +8 %, VS_0.5 +98 %).
        rff: random Fourier features for rbf/laplacian (FKEA), ``rank`` frequencies; each kernel entry errs by
        O(1/sqrt(rank)) in expectation; there is no bound on VS_q, and heavy tails beyond 2 rank are cut off.
        stochastic: the top ``rank`` eigenpairs by randomized subspace iteration (``n_iter`` iterations), then
        tr f(K/n) (f = lambda log lambda for q = 1, lambda^q otherwise) as the Ritz vectors' quadratic forms
        plus a Hutchinson estimate of the deflated remainder, each form by Lanczos quadrature with a
        Gauss / Gauss-Radau bracket (Ubaru, Chen & Saad 2017; the deflation as in Hutch++, Meyer et al. 2021).
        Access to K only through the fused K.V product: O(passes n^2 d + matvecs n) time, O(n (rank + probes))
        memory. Seeded. The result carries a 95 % interval ``.ci_low``/``.ci_high``: the quadrature bracket
        (rigorous for 0 < q < 2) plus a Student t-interval over the probes; ``.details`` says how many
        matvecs (vectors multiplied by K), passes, probes and Lanczos steps it took. q = inf: 1 / the top
        Ritz value, interval from its residual; q = 0 is refused (no stochastic estimate of a rank).
        auto: the fastest exact method: q = 2 -> the fused sum of squares; linear/cosine with d < n ->
        dual; n <= 5000 -> exact. Otherwise (rbf, laplacian, polynomial, or linear/cosine with d >= n, above
        5000 samples, q != 2) it goes **stochastic** with the interval tightened to ``rtol`` (q = 0: nystrom),
        and ``.method`` says so. Passing ``rank`` selects nystrom.
    rank : int, optional, default None
        Landmarks (nystrom, 1 <= rank <= n, default min(n, 1000)), frequencies (rff, default 1000, at
        most ``MAX_RFF_RANK`` = 100000: the features are n x 2 rank float64) or deflated eigenpairs (stochastic,
        default min(n, max(100, 2 truncation)), doubled by the method while more deflation is cheaper than more
        probes, up to n / 4 and ``MAX_DEFLATION_BYTES`` of blocks; ``.rank`` is the rank used).
    seed : int, default 0
        Seeds the landmarks / frequencies / probes: the result is deterministic for a given seed and backend.
    n_iter : int, optional, default None
        Subspace iterations, 0 <= n_iter <= ``MAX_N_ITER`` = 100 (each is O(n^2 (d + rank)); a few suffice):
        after the Nystrom step (method="nystrom", None: 0) or in the deflation (method="stochastic", None: 2).
    rtol : float in (0, 1), default 0.01
        method="stochastic" (and auto when it goes stochastic) with ``probes=None``: probes are added until the
        interval's half-width is at most ``rtol`` times the value (or ``MAX_PROBES`` = 512 are used), and the
        Lanczos steps until the quadrature bracket is a tenth of that.
    probes : int >= 2, optional, default None
        method="stochastic": a fixed number of Hutchinson probes instead of the ``rtol`` rule.
    truncation : int, optional, default None
        t >= 1: the truncated Vendi score above (every method; nystrom needs rank >= t, rff 2 rank >= t, and
        stochastic takes the top t Ritz values, with no interval).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
        A float with ``.q``, ``.kernel``, ``.bandwidth``, ``.method``, ``.rank``, ``.residual_mass``;
        ``.ci_low``, ``.ci_high`` and ``.details`` for method="stochastic"; ``.details["truncation"]`` when
        truncated.

    Notes
    -----
    Approximate spectra under-estimate the eigenvalues; the missed mass (``residual_mass``) is spread evenly
    over the eigenvalues that were not computed before the entropy is taken (nystrom, rff).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.random.default_rng(0).normal(size=(200, 16))
    >>> round(float(gm.vendi(X)), 3)
    15.452
    >>> s = gm.vendi(X, q=2, kernel="rbf", bandwidth=4.0)
    >>> print(f"{s:.3f}", s.kernel, s.method)
    5.856 rbf exact
    >>> round(float(gm.vendi(np.ones((50, 3)))), 3)  # identical points: one effective sample
    1.0
    >>> e = gm.vendi(X, kernel="rbf", bandwidth=4.0, method="exact")
    >>> s = gm.vendi(X, kernel="rbf", bandwidth=4.0, method="stochastic", rank=20, seed=1)
    >>> s.method, bool(s.ci_low <= e <= s.ci_high), abs(s / e - 1) < 0.02
    ('stochastic', True, True)
    >>> round(float(gm.vendi(X, kernel="rbf", bandwidth=4.0, truncation=5)), 3) <= 5
    True
    """
    q = check_order(q)
    seed = check_int(seed, "seed", low=0)
    if n_iter is not None:
        n_iter = check_int(n_iter, "n_iter", low=0, high=MAX_N_ITER)
    rtol = check_fraction(rtol, "rtol")
    engine, spec, engine_spec, X = _setup(X, kernel, bandwidth, backend, kernel_params, scale_invariant=True)
    n, d = X.shape
    if truncation is not None:
        truncation = check_int(truncation, "truncation", low=1, high=n)
    if probes is not None:
        probes = check_int(probes, "probes", low=2, high=max(2, n))
    adaptive_rank = rank is None
    method, rank = _choose_method(method, spec, n, d, q, rank, truncation)
    if probes is not None and method != "stochastic":
        raise ValueError(f"probes: only used by method='stochastic', not {method!r}")
    if truncation is not None:
        available = {"nystrom": rank, "rff": 2 * rank if rank is not None else None, "stochastic": rank}.get(method)
        if available is not None and truncation > min(available, n):
            raise ValueError(
                f"truncation: {truncation} needs at least as many computed eigenvalues, but method={method!r} "
                f"with rank={rank} gives {min(available, n)}; raise rank"
            )
    info = dict(
        metric="vendi", q=q, kernel=spec.name, bandwidth=spec.bandwidth, method=method, backend=engine.name, n=n
    )
    if method == "stochastic":
        iterations = DEFAULT_STOCHASTIC_N_ITER if n_iter is None else n_iter
        max_rank = max(rank, min(n // 4, MAX_DEFLATION_BYTES // (48 * n))) if adaptive_rank else None
        return _stochastic_vendi(
            engine, engine_spec, X, q, rank, seed, iterations, rtol, probes, truncation, max_rank, info
        )
    n_iter = 0 if n_iter is None else n_iter
    if truncation is None:
        if q == 2 and method == "exact":
            return Score(_sum_of_squares_score(engine, engine_spec, X), **info)
        if q == 2 and method == "dual":
            return Score(_dual_sum_of_squares_score(engine, engine_spec, X), **info)
    spectrum = _spectrum(engine, engine_spec, X, method, rank, seed, n_iter)
    details = None
    if truncation is not None:
        spectrum = truncated_spectrum(spectrum, truncation)
        details = {"truncation": truncation}
    return Score(
        hill_number(spectrum, q),
        rank=rank,
        residual_mass=spectrum.tail_mass if method == "nystrom" and truncation is None else None,
        details=details,
        **info,
    )


def truncated_spectrum(spectrum: Spectrum, t: int) -> Spectrum:
    """The t-truncated spectrum (Ospanov & Farnia 2025): the top t eigenvalues, each raised by (1 - their sum) / t.

    Computed eigenvalues beyond the first t are dropped; fewer than t (the dual's d, a low rank) are padded with
    zeros, which then receive the same share. The result sums to 1 and has t entries, so 1 <= VS_q <= t.
    """
    top = np.zeros(t)
    count = min(t, spectrum.eigenvalues.size)
    top[:count] = spectrum.eigenvalues[:count]
    top = top + max(0.0, 1.0 - float(top.sum())) / t
    return Spectrum(top, spectrum.method, t, zero_tolerance=spectrum.zero_tolerance)


def _stochastic_vendi(engine, spec, X, q, rank, seed, n_iter, rtol, probes, truncation, max_rank, info) -> Score:
    """method="stochastic": see :func:`vendi` and :mod:`genmetrics.engine.stochastic`."""
    n = X.shape[0]
    common = dict(rank=rank, seed=seed, n_iter=n_iter)
    if truncation is not None or math.isinf(q):
        # only the top eigenvalues are needed: the randomized eigensolver alone, no probes
        top = stochastic.top_eigenpairs(engine, spec, X, **common)
        details = {"matvecs": top.matvecs, "passes": top.passes, "n_iter": n_iter}
        if truncation is not None:
            spectrum = Spectrum(top.eigenvalues, "stochastic", n)
            details.update(truncation=truncation, largest_residual=float(top.residuals[:truncation].max()))
            return Score(hill_number(truncated_spectrum(spectrum, truncation), q), rank=rank, details=details, **info)
        largest = float(top.eigenvalues[0])
        # lambda_max >= theta_1 (a Rayleigh quotient) and an eigenvalue lies within ||r_1|| of theta_1
        upper = min(largest + float(top.residuals[0]), 1.0)
        details["level"] = 1.0
        return Score(
            min(1.0 / largest, float(n)),
            rank=rank,
            ci_low=1.0 / upper,
            ci_high=min(1.0 / largest, float(n)),
            details=details,
            **info,
        )
    result = stochastic.stochastic_trace(
        engine, spec, X, q, probes=probes, rtol=rtol, level=CI_LEVEL, max_probes=MAX_PROBES, max_rank=max_rank, **common
    )
    rank = result.parts["rank"]
    ends = sorted(stochastic.hill_from_trace(v, q) for v in (result.low, result.high))

    def clamp(v):
        return min(max(v, 1.0), float(n))

    details = {
        "matvecs": result.matvecs,
        "passes": result.passes,
        "probes": result.probes,
        "lanczos_steps": result.steps,
        "n_iter": n_iter,
        "level": CI_LEVEL,
        "rtol": rtol,
        "standard_error": result.standard_error,
        "quadrature_width": result.quadrature_width,
    }
    return Score(
        clamp(stochastic.hill_from_trace(result.estimate, q)),
        rank=rank,
        ci_low=clamp(ends[0]),
        ci_high=clamp(ends[1]),
        details=details,
        **info,
    )


def _negative_eigenvalue(w, eps: float):
    """The clearly negative smallest eigenvalue of ``w`` (beyond round-off: below -max(1e-6, 100 n eps) times
    the largest magnitude), or None when ``w`` is positive semi-definite up to round-off."""
    w = np.asarray(w, dtype=np.float64)
    largest = float(np.abs(w).max())
    smallest = float(w.min())
    return smallest if smallest < -max(1e-6, 100 * w.size * eps) * largest else None


def _check_positive_semidefinite(w, name: str, eps: float):
    """Round-off makes tiny negative eigenvalues; a clearly negative one means the input is not a kernel."""
    smallest = _negative_eigenvalue(w, eps)
    if smallest is not None:
        raise ValueError(
            f"{name}: has a negative eigenvalue {smallest:.3g} (largest {float(np.abs(w).max()):.3g}); "
            "a kernel matrix must be positive semi-definite"
        )


def vendi_from_eigenvalues(eigenvalues, *, q=1, backend=None) -> Score:
    """Vendi score of order q of the eigenvalues of a kernel matrix (normalised to sum 1 here).

    Round-off negatives (below 1e-6 of the largest) are clipped to 0; clearly negative ones are an error.
    The eigenvalues are divided by the largest before they are summed, so values up to the float64 limit
    work. Rank tolerance: for every q < 1 (q = 0 included) eigenvalues <= len * eps64 * max count as 0 and
    the rest are renormalised (see :func:`vendi`).

    Parameters
    ----------
    eigenvalues : array (n,)
        Eigenvalues of a kernel matrix (any positive scale; normalised to sum 1 here).
    q : float >= 0, or np.inf / "inf", default 1
        The order, as in :func:`vendi`.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        Accepted for a uniform signature (checked; nothing here needs an engine).

    Returns
    -------
    Score

    Examples
    --------
    >>> import genmetrics as gm
    >>> round(float(gm.vendi_from_eigenvalues([0.5, 0.25, 0.125, 0.125])), 6)
    3.363586
    """
    q = check_order(q)
    get_backend(backend)
    w = as_real_array(eigenvalues, "eigenvalues").astype(np.float64).ravel()
    if w.size == 0:
        raise ValueError("eigenvalues: empty")
    if not np.all(np.isfinite(w)):
        raise ValueError("eigenvalues: contains NaN or infinite values")
    _check_positive_semidefinite(w, "eigenvalues", float(np.finfo(np.float64).eps))
    spectrum = spectral.spectrum_from_eigenvalues(
        w, w.size, float(np.finfo(np.float64).eps), "exact", w.size, name="eigenvalues"
    )
    return Score(hill_number(spectrum, q), metric="vendi", q=q, method="exact", n=w.size)


NOT_PSD = ("raise", "clip")


def vendi_from_gram(K, *, q=1, not_psd="raise", backend=None) -> Score:
    """Vendi score of order q of a given kernel matrix K (n x n, symmetric positive semi-definite).

    The spectrum is eig(K) / trace(K): eig(K / n) when the diagonal is 1. K is first multiplied by a power of
    two (exact) when its entries are beyond 2^+-32, so that entries near the float64 limits work. Rank
    tolerance: for every q < 1 (q = 0 included) eigenvalues <= n * eps * lambda_max count as 0, eps that of
    K's dtype (the precision K was computed in), or the smallest denormal / max |K| when K is that small
    (denormal entries carry fewer digits); see :func:`vendi`.

    Parameters
    ----------
    K : array (n, n)
        A kernel matrix: symmetric positive semi-definite, trace > 0.
    q : float >= 0, or np.inf / "inf", default 1
        The order, as in :func:`vendi`.
    not_psd : {"raise", "clip"}, default "raise"
        What to do with a K that is not a kernel matrix: not symmetric (beyond 1e-6 of its largest entry) or
        with an eigenvalue below -max(1e-6, 100 n eps) times the largest. "raise" (default): ValueError.
        "clip": accept it as the vendi-score package does, with a warning: K becomes (K + K^T) / 2 and its
        negative eigenvalues are clipped to 0 before the spectrum is normalised to sum 1 (similarity
        matrices such as 1 - normalised edit distance are often slightly indefinite). vendi-score instead
        reads one triangle and drops the negatives without renormalising, so its number differs by about the
        clipped mass.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        The engine; None: chosen from where X lives and ``GENMETRICS_BACKEND``.

    Returns
    -------
    Score
    """
    q = check_order(q)
    not_psd = check_choice(not_psd, "not_psd", NOT_PSD)
    engine = get_backend(backend, K)
    K = check_embeddings(K, "K", device=engine.device)
    xp = array_namespace(K)
    n = K.shape[0]
    if K.shape[1] != n:
        raise ValueError(f"K: must be square, got shape {tuple(K.shape)}")
    # the precision K was computed in bounds its round-off eigenvalues; entries stored as denormals have an
    # absolute precision of the smallest denormal, coarser than eps relative to the largest entry
    finfo = np.finfo(K.dtype)
    largest = to_float(xp.abs(K).max())
    eps = max(float(finfo.eps), float(finfo.smallest_subnormal) / largest) if largest > 0 else float(finfo.eps)
    K = K.astype(xp.float64)
    scale = power_of_two_scale(K)  # exact; K - K^T and the eigensolver stay finite near the float64 limits
    if scale != 1.0:
        K = K * scale
    largest = max(to_float(xp.abs(K).max()), 1e-300)
    asymmetry = to_float(xp.abs(K - K.T).max())
    if asymmetry > 1e-6 * largest:
        if not_psd == "raise":
            raise ValueError("K: must be symmetric (pass not_psd='clip' to use (K + K^T) / 2)")
        warnings.warn(
            f"K: is not symmetric (largest |K - K^T| = {asymmetry / largest:.3g} of its largest entry); "
            "using (K + K^T) / 2",
            UserWarning,
            stacklevel=2,
        )
    if not to_float(xp.trace(K)) > 0:
        raise ValueError("K: trace must be > 0")
    w = spectral.linalg_call(xp.linalg.eigvalsh, (K + K.T) / 2, "K")
    if not_psd == "raise":
        _check_positive_semidefinite(to_host(w), "K", eps)
    else:
        smallest = _negative_eigenvalue(to_host(w), eps)
        if smallest is not None:
            negative = to_host(w)
            clipped = float(-negative[negative < 0].sum() / np.abs(negative).sum())
            warnings.warn(
                f"K: is not positive semi-definite (smallest eigenvalue {smallest:.3g} of largest "
                f"{to_float(xp.abs(w).max()):.3g}); its negative eigenvalues ({clipped:.3g} of the "
                "spectrum's absolute mass) are clipped to 0",
                UserWarning,
                stacklevel=2,
            )
    spectrum = spectral.spectrum_from_eigenvalues(w, n, eps, "exact", n, name="K")
    return Score(hill_number(spectrum, q), metric="vendi", q=q, method="exact", backend=engine.name, n=n)


def rke(
    X,
    *,
    kernel="rbf",
    bandwidth=None,
    method="exact",
    estimator="plugin",
    rank=None,
    seed=0,
    backend=None,
    **kernel_params,
) -> Score:
    """RKE mode count (Jalali, Li, Ospanov & Farnia, NeurIPS 2023): 1 / sum lambda^2 = VS_2.

    method="exact" (default) computes trace(K)^2 / sum_ij k(x_i, x_j)^2 with one fused pass over the Gram
    tiles: O(n^2 d) time, O(n) memory, no eigendecomposition, exact. "nystrom" and "rff" approximate it
    from a rank-``rank`` spectrum, as in :func:`vendi`.
    For m well-separated balanced Gaussian modes N(mu_j, s^2 I_d) and rbf bandwidth sigma the population
    value is m (1 + 4 s^2 / sigma^2)^(d/2): about m only when sigma >> s sqrt(d).

    The plug-in value counts the n diagonal terms k(x_i, x_i)^2 = 1 among the n^2 of sum k^2 / n^2, which inflates
    it by about (1 - E k^2) / n and makes RKE grow with n (Farnia, Jalali & Ospanov 2026): compare sets at equal n,
    or use ``estimator="unbiased"``: the U-statistic U = mean_{i != j} k(x_i, x_j)^2, an unbiased estimate of
    E k(x, x')^2, and RKE = (mean_i k(x_i, x_i))^2 / U (= 1 / U for kernels with k(x, x) = 1). Its first-order
    (Hoeffding) standard error, 2 sd_i(h_i) / sqrt(n) / U^2 times the numerator with h_i = mean_{j != i} k_ij^2, is
    reported as ``.details["standard_error"]``; ``.details["mean_k2"]`` is U / (mean_i k_ii)^2 (= U when k(x, x)
    = 1) with its standard error in ``.details["mean_k2_standard_error"]``. U is unbiased; 1 / U is consistent,
    not unbiased (Jensen).

    Parameters
    ----------
    X : array (n, d)
        Embeddings, one row per sample.
    kernel : {"rbf", "laplacian", "cosine", "linear", "polynomial"}, default "rbf"
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None: the median heuristic, as in :func:`vendi` (reported as ``.bandwidth``).
    method : {"exact", "nystrom", "rff"}, default "exact"
    estimator : {"plugin", "unbiased"}, default "plugin"
        "plugin": trace(K)^2 / sum_ij k_ij^2 (= VS_2, the reference packages' number); "unbiased": the
        U-statistic form above, with its standard error (method="exact" only, n >= 3).
    rank : int, optional, default None
        Landmarks (nystrom) or frequencies (rff), as in :func:`vendi`.
    seed : int, default 0
        Seeds the approximate methods.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        The engine; None: chosen from where X lives and ``GENMETRICS_BACKEND``.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
        A float with ``.metric`` "rke", ``.kernel``, ``.bandwidth``, ``.method``.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.random.default_rng(0).normal(size=(200, 16))
    >>> print(f"{gm.rke(X, bandwidth=4.0):.3f}")  # = gm.vendi(X, q=2, kernel="rbf", bandwidth=4.0)
    5.856
    """
    method = check_choice(method, "method", ("exact", "nystrom", "rff"))
    estimator = check_choice(estimator, "estimator", ("plugin", "unbiased"))
    if estimator == "unbiased":
        if method != "exact":
            raise ValueError(f"estimator: 'unbiased' needs method='exact', not {method!r}")
        return _unbiased_rke(X, kernel, bandwidth, backend, kernel_params)
    score = vendi(
        X,
        q=2,
        kernel=kernel,
        bandwidth=bandwidth,
        method=method,
        rank=rank,
        seed=seed,
        backend=backend,
        **kernel_params,
    )
    info = score.as_dict()
    info.pop("value")
    info["metric"] = "rke"
    return Score(float(score), **info)


def _unbiased_rke(X, kernel, bandwidth, backend, kernel_params) -> Score:
    """RKE from the U-statistic of k^2 (see :func:`rke`), from one fused pass of row sums of k^2."""
    engine, spec, engine_spec, X = _setup(X, kernel, bandwidth, backend, kernel_params, scale_invariant=True)
    n = X.shape[0]
    if n < 3:
        raise ValueError(f"X: the unbiased RKE needs at least 3 rows (pairs i != j and their spread), got {n}")
    diagonal = to_host(kernel_diagonal(engine_spec, X)).astype(np.float64)
    row_squares = to_host(row_sums_checked(engine, engine_spec, X, None, 2.0)).astype(np.float64)
    h = (row_squares - diagonal * diagonal) / (n - 1)  # h_i = mean_{j != i} k_ij^2
    mean_k2 = float(h.mean())
    numerator = float(diagonal.mean()) ** 2
    if not (mean_k2 > 0 and numerator > 0):
        raise ValueError("X: the kernel matrix is zero off the diagonal (or on it); the unbiased RKE is undefined")
    mean_k2_se = 2.0 * float(h.std(ddof=1)) / math.sqrt(n)
    value = numerator / mean_k2
    details = {  # U and its error relative to (mean_i k_ii)^2: scale free (the engine may have rescaled X)
        "estimator": "unbiased",
        "standard_error": value * mean_k2_se / mean_k2,
        "mean_k2": mean_k2 / numerator,
        "mean_k2_standard_error": mean_k2_se / numerator,
    }
    return Score(
        value,
        metric="rke",
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        method="exact",
        backend=engine.name,
        n=n,
        details=details,
    )


def rrke(
    X,
    Y,
    *,
    kernel="rbf",
    bandwidth=None,
    method="auto",
    seed=0,
    rank=None,
    probes=None,
    backend=None,
    **kernel_params,
) -> Score:
    """Relative RKE of X with respect to Y: -log ||K_XY / sqrt(n m)||_*^2, on all rows of both sets.

    RRKE(X, Y) = -log ||A||_*^2 with A = [k(x_i, y_j)] / sqrt(n m) and ||A||_* = sum_i sigma_i(A) = tr sqrt(A A^T),
    the nuclear norm (Jalali, Li & Farnia 2023, "An Information-Theoretic Evaluation of Generative Models in
    Learning Multi-modal Distributions"). RRKE(X, X) = 0 for kernels with k(x, x) = 1. The bandwidth heuristic,
    when used, is computed on X.

    The n x m matrix is never held (:mod:`genmetrics.engine.nuclear`). ``method="exact"``: the Gram A A^T of the
    smaller side (s = min(n, m)) accumulated in float64 over blocks of columns, one dense symmetric eigensolve of
    s x s, and an orthogonal second pass for the singular values below 1e-4 of the largest, so the value is that
    of a float64 SVD of A (to ~1e-11 relative). Time O(n m d + s^2 max(n, m) + s^3), memory O(s^2); kernel values
    that underflow to 0 (whole rows or columns of A) are dropped first. ``method="stochastic"``: deflated
    stochastic Lanczos quadrature of tr sqrt(A A^T) through the fused K V products, seeded, memory
    O(s (rank + probes)), the estimator of ``vendi(method="stochastic")`` with f = sqrt; the Score's ``details``
    carry a 95 % interval (``ci_low``, ``ci_high``: of RRKE; the Gauss/Gauss-Radau bracket of every quadrature,
    widened by Student's t on the probes) and ``matvecs``.
    ``method="auto"``: exact while min(n, m) <= 10,000, stochastic above.

    There is no ``estimator="unbiased"`` as in :func:`rke`: that one removes the n diagonal terms k(x_i, x_i)^2
    from a mean of pairwise terms (a U-statistic). A cross matrix between two sets has no diagonal to drop, and
    the nuclear norm is a sum of singular values, not a mean of pairwise terms, so no U-statistic form exists.
    RRKE still depends on the sizes (the nuclear norm is convex, so sampling noise in K_XY inflates it on
    average, by Jensen's inequality): compare values at equal n and m.

    Parameters
    ----------
    X : array (n, d)
    Y : array (m, d)
        The reference set.
    kernel : {"rbf", "laplacian", "cosine", "linear", "polynomial"}, default "rbf"
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None: the median heuristic on X.
    method : {"auto", "exact", "stochastic"}, default "auto"
    seed : int, default 0
        Seed of the stochastic method's random vectors (the exact method uses none).
    rank : int, optional, default None
        Stochastic method: eigenvectors of A A^T deflated (None: 50, at most min(n, m) / 2; 0: none).
    probes : int, optional, default None
        Stochastic method: Rademacher probes of the remainder (None: batches of 32 until the interval of the norm
        is within 0.5 %, that of RRKE within +-0.01, or 256 probes).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        The engine; None: chosen from where X lives and ``GENMETRICS_BACKEND``.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
        +inf when every kernel value underflows to 0 (the norm is then 0).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.random.default_rng(0).normal(size=(300, 8))
    >>> bool(abs(gm.rrke(X, X, kernel="cosine")) < 1e-12)  # the same set: 0
    True
    >>> s = gm.rrke(X, X + 1.0, bandwidth=2.0)
    >>> a = np.exp(-((X[:, None] - X[None] - 1.0) ** 2).sum(-1) / 8.0) / 300.0  # K_XY / sqrt(n m)
    >>> bool(abs(s - (-2 * np.log(np.linalg.svd(a, compute_uv=False).sum()))) < 1e-10)
    True
    >>> est = gm.rrke(X, X + 1.0, bandwidth=2.0, method="stochastic", seed=1)
    >>> bool(est.details["ci_low"] <= s <= est.details["ci_high"])
    True
    """
    from .engine import nuclear

    if Y is None:  # kernel_inputs would take None as "X against itself"; RRKE(X, X) = 0 says nothing
        raise TypeError(
            "Y: rrke compares two sets and needs the second one (got None); for the diversity of X alone use rke(X)"
        )
    method = check_choice(method, "method", ("auto", "exact", "stochastic"))
    seed = check_int(seed, "seed")
    if rank is not None:
        rank = check_int(rank, "rank", low=0)
    if probes is not None:
        probes = check_int(probes, "probes", low=2)
    engine = get_backend(backend, X, Y)
    spec, engine_spec, X, Y = kernel_inputs(X, Y, kernel, bandwidth, kernel_params, device=engine.device)
    n, m = X.shape[0], Y.shape[0]
    norm = nuclear.nuclear_norm(engine, engine_spec, X, Y, method=method, seed=seed, rank=rank, probes=probes)
    value = -2.0 * norm.log_value
    details = None
    if norm.method == "stochastic":
        details = {
            "ci_low": -2.0 * math.log(norm.ci_high) if norm.ci_high > 0 else math.inf,
            "ci_high": -2.0 * math.log(norm.ci_low) if norm.ci_low > 0 else math.inf,
            "confidence": nuclear.CONFIDENCE,
            "probes": norm.probes,
            "steps": norm.steps,
            "matvecs": norm.matvecs,
            "seed": seed,
        }
    return Score(
        value,
        metric="rrke",
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        method=norm.method,
        backend=engine.name,
        n=n,
        m=m,
        rank=norm.rank,
        details=details,
    )


def intdiv(X, *, q=1, kernel="cosine", bandwidth=None, backend=None, **kernel_params) -> Score:
    """Internal diversity: 1 - (1 / n^2) sum_ij k(x_i, x_j)^q, from one fused pass (O(n) memory).

    A non-integer q with a kernel that takes negative values (cosine, linear) raises ValueError.

    Parameters
    ----------
    X : array (n, d)
    q : float >= 0, finite, default 1
        The power of the kernel values.
    kernel : {"cosine", "linear", "rbf", "laplacian", "polynomial"}, default "cosine"
    bandwidth : float, optional, default None
        sigma of rbf/laplacian; None: the median heuristic.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        The engine; None: chosen from where X lives and ``GENMETRICS_BACKEND``.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
    """
    q = check_order(q)
    if math.isinf(q):
        raise ValueError("q: must be finite for intdiv")
    engine, spec, engine_spec, X = _setup(X, kernel, bandwidth, backend, kernel_params, scale_invariant=False)
    n = X.shape[0]
    total = to_float(check_finite_result(row_sums_checked(engine, engine_spec, X, None, q, name="q").sum(), spec))
    return Score(
        1.0 - total / (n * n),
        metric="intdiv",
        q=q,
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        method="exact",
        backend=engine.name,
        n=n,
    )


def quality_weighted_vendi(
    X, quality, *, q=1, kernel="cosine", bandwidth=None, method="auto", seed=0, backend=None, **kernel_params
) -> Score:
    r"""Quality-weighted Vendi score, qVS (Nguyen & Dieng, "Quality-Weighted Vendi Scores And Their Application
    To Diverse Experimental Design", ICML 2024).

    The Vendi score of X times the mean quality of its samples:

        qVS_q(X) = ((1/n) sum_i s(x_i)) * VS_q(X; k),

    s(x_i) >= 0 the quality of sample i (a classifier's confidence, an aesthetic score, ...), given as one number
    per row of X. It rewards sets that are both good and diverse: n perfect copies of one sample score the mean
    quality; n equally good, mutually orthogonal samples score n times it.

    Parameters
    ----------
    X : array (n, d)
    quality : array (n,)
        Finite, >= 0, one per row of X.
    q : float >= 0 or "inf", default 1
    kernel : {"cosine", "linear", "rbf", "laplacian", "polynomial"}, default "cosine"
    bandwidth : float, optional, default None
        sigma of rbf/laplacian (:func:`vendi`'s median heuristic when None).
    method : str, default "auto"
        :func:`vendi`'s method.
    seed : int >= 0, default 0
        For the randomized methods of :func:`vendi`.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
        qVS, with ``details``: ``vendi`` (VS_q) and ``mean_quality``; the other attributes are VS_q's.

    Notes
    -----
    The authors' package (vertaix/Quality-Weighted-Vendi-Score) computes the same product of the mean of the
    scores and the Vendi score of the kernel matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.eye(4)
    >>> print(f"{gm.quality_weighted_vendi(X, np.array([1.0, 1.0, 0.5, 0.5])):.2f}")  # 0.75 * 4
    3.00
    """
    engine = get_backend(backend, X)
    X = check_embeddings(X, "X", device=engine.device)
    s = as_real_array(quality, "quality").astype(np.float64)
    if s.ndim != 1 or s.shape[0] != X.shape[0]:
        raise ValueError(f"quality: expected one score per row of X, shape ({X.shape[0]},), got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("quality: scores must be finite and >= 0")
    vs = vendi(
        X, q=q, kernel=kernel, bandwidth=bandwidth, method=method, seed=seed, backend=engine.name, **kernel_params
    )
    mean_quality = float(s.mean())
    info = {name: getattr(vs, name) for name in ("q", "kernel", "bandwidth", "method", "backend", "n", "rank")}
    return Score(
        mean_quality * float(vs),
        metric="quality_weighted_vendi",
        details={"vendi": float(vs), "mean_quality": mean_quality},
        **info,
    )
