"""tr f(K / trace K) with a confidence interval, from the fused K.V product alone (method="stochastic").

f(lambda) = lambda log lambda (order q = 1) or lambda^q, so that VS_1 = exp(-tr f) and VS_q = (tr f)^(1 / (1 - q)).
K is never stored: every access is ``engine.kernel_matvec(spec, X, None, V)``, one pass over the Gram tiles for a
block V of vectors. With A = K / trace(K) (PSD, eigenvalues summing to 1):

1. **Deflation** (randomized subspace iteration, Halko, Martinsson & Tropp 2011): Q (n x b) spans the top
   eigenvectors; Rayleigh-Ritz gives Ritz pairs (theta_i, q_i) and residuals r_i = A q_i - theta_i q_i.
2. **The split** (the Hutch++ idea of Meyer, Musco, Musco & Woodruff 2021, with f(A) in place of A):
   tr f(A) = sum_i q_i^T f(A) q_i + tr(P f(A) P), P = I - Q Q^T. The first term is computed on A itself; the
   second as tr f(P A P) over the range of P, **deflated Lanczos**: every Lanczos vector of a probe is projected
   off Q (twice), so the recurrence sees only the tail of the spectrum. Without it, rounding brings the top
   eigenvectors back into the recurrence, and the bracket of f(lambda) = sqrt(lambda) or lambda log lambda over
   [0, lambda_1] closes as ~1/steps: on a 100-mode mixture (n = 3,000, d = 64, median bandwidth), VS_0.5's
   probe bracket was still 1.9 % wide after 120 steps, against 0.4 % after 26 deflated ones. The two forms of the
   second term differ at second order in the Ritz residuals ||P A Q|| (a block perturbation leaves the diagonal
   blocks of f(A) unchanged at first order); on that case the estimate moved by 0.03 % while ``n_iter`` 2 -> 6
   cut the residuals a hundredfold, well inside the interval.
3. **Quadrature** (stochastic Lanczos quadrature, Ubaru, Chen & Saad 2017): each quadratic form v^T f(A) v is
   bracketed by the Gauss and the Gauss-Radau (node fixed at 0, the bottom of A's spectrum) rules of the Lanczos
   tridiagonal matrix started from v. For 0 < q < 1, q = 1 and 1 < q < 2 the bracket is rigorous (in exact
   arithmetic): these f are, up to linear terms that every rule integrates exactly, integrals with signed weights of
   lambda / (lambda + s), whose Gauss error and Gauss-Radau error have opposite signs (the derivatives of
   1 / (lambda + s) alternate in sign). For other q it is the difference of two rules, an error estimate.
   The Ritz vectors' forms (step 2, first term) use a few Lanczos steps each (a Ritz vector is nearly an
   eigenvector, so the bracket closes fast); the second term is a Hutchinson mean over Rademacher probes
   z -> P z, each form bracketed the same way.
4. **The interval**: [sum of the Ritz brackets' lows + mean of the probes' lows - t s / sqrt(p),
   sum of the highs + mean of the highs + t s / sqrt(p)], s the standard deviation of the probes' midpoints and t
   the Student quantile at ``level`` with p - 1 degrees of freedom: the bracket covers the quadrature error and the
   t-term the sampling error of the probes, so the interval has at least the nominal coverage up to the
   t-approximation of the probe mean. It maps to VS_q monotonically.

Everything here is written against the array namespace (NumPy and CuPy run the same code); the probes and the
starting block are drawn on the host from ``numpy.random.default_rng(seed)``, so a seed gives the same numbers on
every backend up to round-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..support.arrays import array_namespace, to_float, to_host
from .kernels import KernelSpec, kernel_diagonal
from .spectral import linalg_call

#: Columns added to the deflation block beyond the rank asked for (oversampling, Halko et al. 2011).
OVERSAMPLING = 10
#: Probes per batch of the Hutchinson term; the adaptive loop adds batches until the interval is tight enough.
PROBE_BATCH = 32
#: Most Lanczos steps per probe; the loop stops earlier once the Gauss/Gauss-Radau brackets are tight.
MAX_STEPS = 60
#: Share of the target half-width left to the quadrature bracket (the rest to the probes' spread).
QUADRATURE_SHARE = 0.25
#: Most Lanczos steps per Ritz vector (each step is one pass over the Gram tiles with the whole block).
MAX_RITZ_STEPS = 6


@dataclass(frozen=True)
class StochasticTrace:
    """tr f(A) with its interval, and what it cost.

    ``estimate``/``low``/``high`` are of tr f(A); ``eigenvalues`` are the Ritz values of A (largest first),
    ``residuals`` the norms ||A q_i - theta_i q_i||; ``matvecs`` counts the vectors multiplied by K
    (the columns of every block), ``passes`` the passes over the Gram tiles.
    """

    estimate: float
    low: float
    high: float
    eigenvalues: np.ndarray
    residuals: np.ndarray
    probes: int
    steps: int
    matvecs: int
    passes: int
    standard_error: float
    quadrature_width: float
    parts: dict = field(default_factory=dict)


def trace_function(q: float):
    """f with tr f(A) the quantity behind VS_q: lambda log lambda (q = 1) or lambda^q; f(0) = 0, clipped below 0."""
    if q == 1:

        def f(x):
            x = np.clip(x, 0.0, None)
            safe = np.where(x > 0, x, 1.0)
            return np.where(x > 0, x * np.log(safe), 0.0)

        return f

    def g(x):
        return np.clip(x, 0.0, None) ** q

    return g


def hill_from_trace(value: float, q: float) -> float:
    """VS_q from tr f(A): exp(-value) for q = 1, value^(1 / (1 - q)) otherwise (monotone in value)."""
    if q == 1:
        return math.exp(-value)
    if not value > 0:
        return math.inf if q < 1 else 1.0
    return math.exp(math.log(value) / (1.0 - q))


def student_quantile(probability: float, dof: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion around the normal one (Abramowitz & Stegun 26.7.5):
    within 1e-3 for dof >= 5 at the usual levels; no SciPy needed."""
    z = _normal_quantile(probability)
    v = float(dof)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


def _normal_quantile(p: float) -> float:
    """Acklam's rational approximation refined by one Newton step on erf: ~1e-15 relative."""
    a = [-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02]
    a += [-3.066479806614716e01, 2.506628277459239e00]
    b = [-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01]
    b += [-1.328068155288572e01]
    c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00]
    c += [4.374664141464968e00, 2.938163982698783e00]
    d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00]
    if p < 0.02425:
        s = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) / (
            (((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1
        )
    elif p > 1 - 0.02425:
        return -_normal_quantile(1 - p)
    else:
        s = p - 0.5
        r = s * s
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * s
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        )
    e = 0.5 * math.erfc(-x / math.sqrt(2)) - p
    return x - e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)


class CountedOperator:
    """A PSD operator V -> A V on blocks (``product``), counting the products (``passes``: one pass over the Gram
    tiles each for K / trace(K)) and the vectors multiplied (``matvecs``)."""

    def __init__(self, product):
        self.product = product
        self.passes = 0
        self.matvecs = 0

    def __call__(self, V):
        self.passes += 1
        self.matvecs += V.shape[1]
        return self.product(V)


def _orthonormal(Y):
    xp = array_namespace(Y)
    Q, _ = linalg_call(xp.linalg.qr, Y, "X")
    return Q


def randomized_eigenpairs(apply, X, block: int, n_iter: int, rng):
    """Top Ritz pairs of A from ``n_iter`` + 2 passes of randomized subspace iteration with ``block`` columns.

    Returns (Q, theta, AQ) with Q's columns the Ritz vectors (largest Ritz value first) and AQ = A Q.
    """
    xp = array_namespace(X)
    n = X.shape[0]
    Y = apply(xp.asarray(rng.standard_normal((n, block))))
    for _ in range(n_iter):
        Y = apply(_orthonormal(Y))
    Q = _orthonormal(Y)
    AQ = apply(Q)
    B = Q.T @ AQ
    theta, U = linalg_call(xp.linalg.eigh, (B + B.T) / 2, "X")
    order = xp.argsort(-theta)
    theta, U = theta[order], U[:, order]
    return Q @ U, theta, AQ @ U


def _project_off(Q, V):
    """(I - Q Q^T) V for orthonormal Q, applied twice (twice is enough, Kahan)."""
    V = V - Q @ (Q.T @ V)
    return V - Q @ (Q.T @ V)


def _column_norms(V):
    xp = array_namespace(V)
    return xp.sqrt(xp.sum(V * V, axis=0))


class Lanczos:
    """Lanczos from each column of V0 (unit norm) in lockstep: one pass over the Gram tiles per step for the block.

    ``alpha`` (c, steps) and ``beta`` (c, steps) are host arrays: beta[:, j] couples step j and j + 1 (the last one
    is the coupling beyond the tridiagonal matrix, which Gauss-Radau needs). ``run(k)`` adds k steps, resuming the
    recurrence. No full reorthogonalisation (memory stays three blocks; SLQ's quadrature is stable without it,
    Ubaru et al. 2017); a column whose beta falls below ``tolerance`` has found an invariant subspace and is
    frozen (its later alphas and betas are 0). ``AV0`` = A V0, when known, saves the first pass. ``deflate``: an
    orthonormal block Q; every new vector is projected off it, so the recurrence is that of P A P, P = I - Q Q^T.
    """

    def __init__(self, apply, V0, AV0=None, tolerance: float = 0.0, deflate=None):
        xp = array_namespace(V0)
        self.apply, self.tolerance, self.xp = apply, tolerance, xp
        self.deflate = deflate
        self.previous = xp.zeros_like(V0)
        self.current = V0
        self.previous_beta = xp.zeros(V0.shape[1], dtype=V0.dtype)
        self.first = AV0
        self._alpha: list = []
        self._beta: list = []

    @property
    def steps(self) -> int:
        return len(self._alpha)

    @property
    def alpha(self):
        return np.stack(self._alpha, axis=1)

    @property
    def beta(self):
        return np.stack(self._beta, axis=1)

    def run(self, k: int) -> Lanczos:
        xp = self.xp
        for _ in range(k):
            if self.first is not None:
                W, self.first = self.first, None
            else:
                W = self.apply(self.current)
            current = self.current
            a = xp.sum(current * W, axis=0)
            W = W - current * a[None, :] - self.previous * self.previous_beta[None, :]
            # one local reorthogonalisation against the current vector (cheap; keeps alpha and beta accurate)
            W = W - current * xp.sum(current * W, axis=0)[None, :]
            if self.deflate is not None:
                W = _project_off(self.deflate, W)
            b = _column_norms(W)
            alive = b > self.tolerance
            b = xp.where(alive, b, 0.0)
            self._alpha.append(to_host(a))
            self._beta.append(to_host(b))
            safe = xp.where(alive, b, 1.0)
            self.previous, self.current = current, xp.where(alive[None, :], W / safe[None, :], 0.0)
            self.previous_beta = b
        return self


def quadrature_bracket(alpha, beta, f, steps: int | None = None):
    """(Gauss, Gauss-Radau at 0) values of e_1^T f(T) e_1 for each row's tridiagonal T of ``steps`` steps.

    Gauss: T_m's eigenvalues as nodes, squared first eigenvector components as weights. Gauss-Radau: T_m extended
    by one row so that 0 is an eigenvalue (alpha~ = delta_m, (T_m) delta = beta_m^2 e_m; Golub & Meurant 2010).
    """
    c, total = alpha.shape
    m = total if steps is None else steps
    T = np.zeros((c, m + 1, m + 1))
    idx = np.arange(m)
    T[:, idx, idx] = alpha[:, :m]
    if m > 1:
        T[:, idx[:-1], idx[:-1] + 1] = beta[:, : m - 1]
        T[:, idx[:-1] + 1, idx[:-1]] = beta[:, : m - 1]
    Tm = T[:, :m, :m]
    nodes, vectors = np.linalg.eigh(Tm)
    gauss = np.sum(vectors[:, 0, :] ** 2 * f(nodes), axis=1)
    last = beta[:, m - 1]
    rhs = np.zeros((c, m))
    rhs[:, -1] = last**2
    # T_m - 0 I may be singular for a column that stopped (beta = 0): then the Radau rule is the Gauss rule
    stopped = last <= 0
    delta = np.zeros((c, m))
    live = ~stopped
    if np.any(live):
        try:
            delta[live] = np.linalg.solve(Tm[live], rhs[live][..., None])[..., 0]
        except np.linalg.LinAlgError:
            delta[live] = np.array([np.linalg.lstsq(t, r, rcond=None)[0] for t, r in zip(Tm[live], rhs[live])])
    T[:, m, m] = delta[:, -1]
    T[:, m - 1, m] = last
    T[:, m, m - 1] = last
    rnodes, rvectors = np.linalg.eigh(T)
    radau = np.sum(rvectors[:, 0, :] ** 2 * f(rnodes), axis=1)
    radau = np.where(stopped, gauss, radau)
    return gauss, radau


def _bracket(alpha, beta, f, steps=None):
    gauss, radau = quadrature_bracket(alpha, beta, f, steps)
    return np.minimum(gauss, radau), np.maximum(gauss, radau)


@dataclass(frozen=True)
class TopEigenpairs:
    """Ritz values of A = K / trace(K) (largest first, clipped at 0), their residual norms, and the cost."""

    eigenvalues: np.ndarray
    residuals: np.ndarray
    matvecs: int
    passes: int


def _operator(engine, spec: KernelSpec, X):
    trace = to_float(kernel_diagonal(spec, X).sum())
    if not trace > 0:
        raise ValueError("X: the kernel matrix has no positive eigenvalue (its trace is 0)")
    return CountedOperator(lambda V: engine.kernel_matvec(spec, X, None, V) / trace)


def _deflation(apply, X, rank: int, n_iter: int, rng):
    if rank <= 0:  # no deflation: every probe sees the whole spectrum
        xp = array_namespace(X)
        empty = xp.zeros((X.shape[0], 0), dtype=xp.float64)
        return 0, empty, xp.zeros(0, dtype=xp.float64), empty, np.zeros(0)
    block = min(X.shape[0], rank + OVERSAMPLING)
    Q, theta, AQ = randomized_eigenpairs(apply, X, block, n_iter, rng)
    residuals = to_host(_column_norms(AQ - Q * theta[None, :]))
    return block, Q, theta, AQ, residuals


def top_eigenpairs(engine, spec: KernelSpec, X, *, rank: int, seed: int, n_iter: int = 2) -> TopEigenpairs:
    """The top ``rank`` Ritz values of K / trace(K) by randomized subspace iteration (``n_iter`` + 2 passes).

    Each Ritz value is at most the matching eigenvalue (Cauchy interlacing: theta_i <= lambda_i), and some
    eigenvalue lies within ``residuals[i]`` of theta_i.
    """
    apply = _operator(engine, spec, X)
    _, _, theta, _, residuals = _deflation(apply, X, rank, n_iter, np.random.default_rng(seed))
    values = np.clip(to_host(theta), 0.0, None)[:rank]
    return TopEigenpairs(values, residuals[:rank], apply.matvecs, apply.passes)


def stochastic_trace(engine, spec: KernelSpec, X, q: float, **options) -> StochasticTrace:
    """tr f(K / trace K) by deflation + SLQ (see the module docstring), with its ``level`` interval: the
    :func:`operator_trace` of A = K / trace(K) through the engine's fused K.V, with ``options`` as there."""
    return operator_trace(_operator(engine, spec, X), X, q, pass_cost=X.shape[1], **options)


def operator_trace(
    apply,
    X,
    q: float,
    *,
    rank: int,
    seed: int,
    n_iter: int = 2,
    probes: int | None = None,
    rtol: float = 0.01,
    level: float = 0.95,
    max_probes: int = 256,
    max_steps: int = MAX_STEPS,
    max_rank: int | None = None,
    pass_cost: float = 1.0,
) -> StochasticTrace:
    """tr f(A) by deflation + SLQ for any PSD operator ``apply`` (V -> A V on blocks, with ``passes``/``matvecs``
    counters, as :class:`CountedOperator`), with its ``level`` interval. ``X`` only gives n (its rows) and the array
    namespace. :func:`stochastic_trace` runs it on K / trace(K), :mod:`genmetrics.engine.nuclear` on
    K_XY K_YX / (n m) with q = 1/2 (the nuclear norm).

    ``rank`` Ritz vectors (block ``rank`` + ``OVERSAMPLING``, capped at n; none for rank 0) are deflated.
    ``probes``: a fixed number of Hutchinson probes; None: batches of ``PROBE_BATCH`` until the interval of VS_q is
    within ``rtol`` of the estimate (relative half-width) or ``max_probes`` is reached. Lanczos steps per probe
    batch stop once the mean quadrature bracket is below ``QUADRATURE_SHARE`` of the target half-width, or at
    ``max_steps``. ``max_rank``: when given (and ``probes`` is None), the rank doubles (up to it) after the first
    batch of probes whenever the probes the target needs would cost more flops than deflating twice as many
    eigenpairs, a pass costing ``pass_cost`` (d for a kernel pass) plus 2 a column of the block, in units of
    n^2 flops; ``parts["rank"]`` is the rank used.
    """
    xp = array_namespace(X)
    n = X.shape[0]
    d = pass_cost
    f = trace_function(q)
    rng = np.random.default_rng(seed)

    def target_width(estimate):
        # half-width of tr f that makes VS_q's relative half-width rtol (first order)
        return rtol * (1.0 if q == 1 else abs(1.0 - q) * abs(estimate))

    while True:
        block, Q, theta, AQ, residuals = _deflation(apply, X, rank, n_iter, rng)
        theta_host = np.clip(to_host(theta), 0.0, None)
        tolerance = 1e-13 * max(float(theta_host[0]) if block else 0.0, 1e-300)
        # Ritz vectors: Lanczos from q_i, its first step known from A Q
        ritz_low = ritz_high = 0.0
        ritz_steps = 0
        if block == n:  # Q spans everything: the Ritz values are the eigenvalues
            ritz_low = ritz_high = float(np.sum(f(theta_host)))
        elif block > 0:
            ritz = Lanczos(apply, Q, AV0=AQ, tolerance=tolerance)
            for _ in range(MAX_RITZ_STEPS):
                ritz.run(1)
                lo, hi = _bracket(ritz.alpha, ritz.beta, f)
                ritz_low, ritz_high = float(lo.sum()), float(hi.sum())
                if ritz_high - ritz_low <= 0.05 * target_width(0.5 * (ritz_low + ritz_high)):
                    break
            ritz_steps = ritz.steps
        # the remainder tr(P f(A) P): Rademacher probes projected off Q
        lows: list = []
        highs: list = []
        mids: list = []
        steps_used = 0
        count = PROBE_BATCH if probes is None else probes
        grow = False
        while block < n:
            Z = xp.asarray(rng.choice(np.array([-1.0, 1.0]), size=(n, count)))
            if block:
                Z = _project_off(Q, Z)
            norms2 = to_host(xp.sum(Z * Z, axis=0))
            V0 = Z / xp.sqrt(xp.asarray(norms2))[None, :]
            run = Lanczos(apply, V0, tolerance=tolerance, deflate=Q if block else None).run(1)
            while True:
                lo, hi = _bracket(run.alpha, run.beta, f)
                width = float(np.mean((hi - lo) * norms2))
                estimate = ritz_low + float(np.mean(0.5 * (lo + hi) * norms2))
                if width <= QUADRATURE_SHARE * target_width(estimate) or run.steps >= min(max_steps, n):
                    break
                run.run(min(5, max_steps - run.steps))
            steps_used = max(steps_used, run.steps)
            lows.extend(lo * norms2)
            highs.extend(hi * norms2)
            mids.extend(0.5 * (lo + hi) * norms2)
            if probes is not None:
                break
            interval = _interval(ritz_low, ritz_high, lows, highs, mids, level)
            center = 0.5 * (interval[0] + interval[1])
            vs_lo, vs_hi = sorted((hill_from_trace(interval[0], q), hill_from_trace(interval[1], q)))
            vs = hill_from_trace(center, q)
            half = (vs_hi - vs_lo) / 2
            if half <= rtol * vs or len(mids) >= max_probes:
                break
            # the probe term's half-width shrinks as 1 / sqrt(p): what the target needs, in one more batch
            needed = min(math.ceil(1.2 * len(mids) * (half / (rtol * vs)) ** 2), max_probes)
            count = int(max(needed - len(mids), 8))
            # or deflate twice as many eigenpairs (the probes' variance is that of P f(A) P), when cheaper in
            # Gram-tile flops per n^2: a pass costs d (the kernel) plus 2 per column (the product)
            setup = n_iter + 2 + ritz_steps
            cost_more = steps_used * d + 2 * count * steps_used
            cost_grow = setup * (d + 2 * (2 * rank + OVERSAMPLING)) + steps_used * (d + 2 * PROBE_BATCH)
            if max_rank is not None and 2 * rank <= max_rank and len(mids) == PROBE_BATCH and cost_more > cost_grow:
                grow = True
                break
        if not grow:
            break
        rank *= 2
    if block == n:
        estimate = low = high = ritz_low
        se = 0.0
        width = 0.0
    else:
        low, high, se = _interval(ritz_low, ritz_high, lows, highs, mids, level, with_se=True)
        estimate = 0.5 * (ritz_low + ritz_high) + float(np.mean(mids))
        width = (ritz_high - ritz_low) + float(np.mean(np.subtract(highs, lows)))
    return StochasticTrace(
        estimate=estimate,
        low=low,
        high=high,
        eigenvalues=theta_host,
        residuals=residuals,
        probes=len(mids),
        steps=steps_used,
        matvecs=apply.matvecs,
        passes=apply.passes,
        standard_error=se,
        quadrature_width=width,
        parts={"ritz": (ritz_low, ritz_high), "block": block, "rank": rank},
    )


def _interval(ritz_low, ritz_high, lows, highs, mids, level, with_se=False):
    p = len(mids)
    mids = np.asarray(mids)
    se = float(mids.std(ddof=1) / math.sqrt(p)) if p > 1 else math.inf
    t = student_quantile(0.5 + level / 2, max(p - 1, 1))
    low = ritz_low + float(np.mean(lows)) - t * se
    high = ritz_high + float(np.mean(highs)) + t * se
    return (low, high, se) if with_se else (low, high)
