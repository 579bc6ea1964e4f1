"""Information-theoretic estimates beyond Gaussian fits: k-NN KL divergence and entropy, and the VAE latent KL.

===========================  ===============================================================================
:func:`knn_kl_divergence`    KL(P || Q) from k-nearest-neighbour distances (Wang, Kulkarni & Verdú 2009)
:func:`knn_entropy`          differential entropy from k-NN distances (Kozachenko & Leonenko 1987), in nats
:func:`vae_latent_kl`        per-dimension KL(q(z|x) || N(0, 1)) of a VAE's Gaussian posteriors, and the active
                             units of Burda, Grosse & Salakhutdinov (2016): posterior-collapse diagnostics
:func:`digamma`              the digamma function psi(x) = d/dx ln Gamma(x), without SciPy
===========================  ===============================================================================

Why a module of its own: :mod:`genmetrics.distances` holds the metrics of Gaussian fits and kernel sums and their
moment and eigenvalue helpers; the two k-NN estimators share none of them, and share with each other the
digamma function and one rule for coincident points (below). An entropy is not a distance between distributions.

Coincident points (duplicated rows). The estimators take logarithms of neighbour distances, and a repeated row
is at distance 0. For samples of a continuous distribution this has probability 0; repeated rows are atoms, where
the density (and the log of the distance) is infinite. The rule here, for every point x_i and each set S it is
compared with: let c_i be the number of points of S at distance 0 from x_i (x_i itself excluded when S is its own
set). The neighbour distance used is that of the (k + c_i)-th nearest point, i.e. the k-th nearest point at a
*positive* distance, and its bias correction is psi(k + c_i) in place of psi(k). These are the estimators with
point-dependent neighbour counts k_i, l_i of Wang, Kulkarni & Verdú (2009), which stay consistent for any such
choice: the ball of radius rho around x_i really holds k + c_i points of S, and psi(k + c_i) is the expected log of
that count's Poisson-clock (Erlang) variable. Without coincident points (c_i = 0) this is the published estimator
exactly. With them it is finite, deterministic, the same on every backend, and it measures atoms sensibly: a point
mass held by both sets contributes psi(k + c_p) - psi(k + c_q) ~ the log-ratio of its two masses, and an atom
lowers the entropy estimate by ~log of its size. A point whose set offers fewer than k points at a positive
distance (all the others coincide with it) is a ValueError naming the set.
"""

from __future__ import annotations

import math

import numpy as np

from .engine import get_backend
from .support.arrays import array_namespace, to_float, to_host
from .support.results import Score, VAELatentKL
from .support.validation import check_embeddings, check_neighbor_count, check_nonnegative, check_pair

__all__ = ["digamma", "knn_entropy", "knn_kl_divergence", "vae_latent_kl"]

#: Euler-Mascheroni constant, gamma = -psi(1).
EULER_GAMMA = 0.57721566490153286060651209008240243

#: psi(x) = psi(x + j) - sum 1/(x + i) moves x up to at least this before the asymptotic series is summed.
_ASYMPTOTIC_FROM = 10.0

#: Coefficients B_2j / (2j) of the asymptotic series psi(x) ~ ln x - 1/(2x) - sum_j B_2j / (2j x^2j), j = 1..7.
_BERNOULLI_TERMS = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def digamma(x) -> float:
    r"""The digamma function psi(x) = Gamma'(x) / Gamma(x), for real x > 0, to about 1e-15 relative.

    Integers n <= 64: psi(n) = -gamma + sum_{j=1}^{n-1} 1/j (gamma the Euler-Mascheroni constant), summed exactly
    rounded (``math.fsum``). Otherwise the recurrence psi(x) = psi(x + 1) - 1/x lifts x to x >= 10, where the
    asymptotic series

        psi(x) = ln x - 1/(2x) - sum_{j=1}^{7} B_2j / (2j x^2j)

    (B_2j the Bernoulli numbers) has a truncation error below |B_16| / (16 x^16) < 5e-17 (Abramowitz & Stegun 6.3.18).

    Parameters
    ----------
    x : float
        > 0 and finite.

    Returns
    -------
    float

    Examples
    --------
    >>> from genmetrics.information import digamma, EULER_GAMMA
    >>> digamma(1) == -EULER_GAMMA
    True
    >>> round(digamma(0.5), 12)  # -gamma - 2 ln 2
    -1.963510026021
    """
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"x: expected a real number, got {type(x).__name__}")
    if isinstance(x, (int, np.integer)) and 1 <= x <= 64:
        return math.fsum([-EULER_GAMMA] + [1.0 / j for j in range(1, int(x))])
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"x: digamma is computed here for finite x > 0, got {x}")
    shift = 0.0
    while x < _ASYMPTOTIC_FROM:
        shift += 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series, power = 0.0, inv2
    for c in _BERNOULLI_TERMS:
        series += c * power
        power *= inv2
    return math.log(x) - 0.5 / x - series - shift


def _digamma_sum(counts) -> float:
    """sum_i psi(counts[i]) for a NumPy array of positive integers (few distinct values: one psi for each)."""
    values, times = np.unique(np.asarray(counts, dtype=np.int64), return_counts=True)
    return math.fsum(int(t) * digamma(int(v)) for v, t in zip(values, times))


def log_unit_ball_volume(d: int) -> float:
    """ln V_d, V_d = pi^(d/2) / Gamma(d/2 + 1) the volume of the Euclidean unit ball in d dimensions."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)


def positive_neighbor_distances(engine, queries, refs, k: int, available: int, name: str):
    """Per query: (the distance to its k-th nearest point of ``refs`` at a positive distance, as float64, and the
    number c_i of points of ``refs`` at distance 0 from it, as int64), both arrays on the engine's device.

    ``refs`` None: the queries against their own set, the point itself excluded. ``available``: the candidates
    per query (n - 1 for a set against itself). The engine's k-NN is asked for k neighbours, then for more until
    every row's c_i + k neighbours are in (c_i is exact once a positive distance follows the zeros). A row with
    fewer than k points at a positive distance is a ValueError naming ``name``, the set those points belong to.
    """
    wanted = k
    while True:
        distances, _ = engine.knn(queries, refs, wanted)
        xp = array_namespace(distances)
        zeros = (distances == 0).sum(axis=1)
        if bool(xp.all(zeros + k <= wanted)) or wanted == available:
            break
        wanted = min(available, max(2 * wanted, int(zeros.max()) + k))
    short = zeros + k > wanted
    if bool(xp.any(short)):
        row = int(xp.argmax(short))
        positive = available - int(zeros[row])
        raise ValueError(
            f"{name}: row {row} has only {positive} point(s) of {name} at a positive distance (the others coincide "
            f"with it), fewer than k = {k}; the k-NN estimates need k points at a positive distance: lower k or "
            "remove the duplicated rows"
        )
    rows = xp.arange(distances.shape[0])
    return distances[rows, zeros + (k - 1)], zeros.astype(xp.int64)


def _check_k(k, X, name: str, low_rows: int = 2) -> int:
    if X.shape[0] < low_rows:
        raise ValueError(f"{name}: needs at least {low_rows} rows (a point and a neighbour), got {X.shape[0]}")
    return check_neighbor_count(k, X.shape[0] - 1, what=f"{name} (without the point itself)")


def knn_kl_divergence(p_samples, q_samples, *, k=1, backend=None) -> Score:
    r"""KL(P || Q) from k-nearest-neighbour distances (Wang, Kulkarni & Verdú 2009), in nats.

    D(P || Q) = (d/n) sum_i ln(nu_k(i) / rho_k(i)) + ln(m / (n - 1)),

    with x_1..x_n ~ P (``p_samples``), y_1..y_m ~ Q (``q_samples``), rho_k(i) the distance from x_i to its k-th
    nearest neighbour among the other x's, and nu_k(i) the distance from x_i to its k-th nearest y (Euclidean).
    Wang, Kulkarni & Verdú, "Divergence estimation for multidimensional densities via k-nearest-neighbor
    distances", IEEE Trans. Information Theory 55(5), 2009. Consistent (n, m -> infinity, k fixed) for densities,
    without a fit: it sees differences of shape that the Gaussian fit of :func:`genmetrics.gaussian_kl` cannot.

    Coincident points: a zero distance is never taken. For each x_i, c_i = the other x's at distance 0 from it and
    e_i = the y's at distance 0; rho is the distance to the k-th x at a positive distance, nu that to the k-th y at
    a positive distance, and

    D = (d/n) sum_i ln(nu(i) / rho(i)) + (1/n) sum_i [psi(k + c_i) - psi(k + e_i)] + ln(m / (n - 1)),

    Wang et al.'s estimator with point-dependent neighbour counts k_i = k + c_i, l_i = k + e_i (see the module's
    docstring for why; without coincident points it is the formula above exactly). A point mass present in both
    sets then contributes about the log-ratio of its masses, the KL of the atoms.

    Parameters
    ----------
    p_samples : array (n, d)
        Samples of P, n >= 2.
    q_samples : array (m, d)
        Samples of Q, the reference distribution (in the denominator of the log-ratio).
    k : int, default 1
        1 <= k <= n - 1 and k <= m. k = 1 is the paper's main case; larger k lowers the variance and raises the
        bias.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Score
        In nats. Can be negative (an estimate; the divergence itself is >= 0). ``.details`` holds ``k`` and the
        numbers of x's with a coincident x (``coincident_p``) and with a coincident y (``coincident_q``).

    Notes
    -----
    P and Q must be independent samples: with ``q_samples`` the same array as ``p_samples`` every x_i is itself a
    y at distance 0 (e_i = c_i + 1) and the estimate is -1/k + ln(n / (n - 1)) (rho = nu), not 0. The distances are
    the engine's exact float64 k-NN distances (:func:`genmetrics.knn`), the same on every backend; sums are in
    float64. Rows repeated in Q but not in P change nothing but m; rows repeated in P move the estimate (they are
    atoms of P).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> p, q = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)) * 2.0
    >>> print(f"{gm.knn_kl_divergence(p, q):.2f}")  # analytic: ln 4 - 1 + 1/4 = 0.636
    0.63
    """
    engine = get_backend(backend, p_samples, q_samples)
    p, q = check_pair(p_samples, q_samples, "p_samples", "q_samples", device=engine.device)
    k = _check_k(k, p, "p_samples")
    n, m = p.shape[0], q.shape[0]
    k = check_neighbor_count(k, m, what="q_samples")
    p_points, q_points = engine.points(p, q, names=("p_samples", "q_samples"))
    rho, c = positive_neighbor_distances(engine, p_points, None, k, n - 1, "p_samples")
    nu, e = positive_neighbor_distances(engine, p_points, q_points, k, m, "q_samples")
    xp = array_namespace(rho)
    log_ratio = to_float((xp.log(nu) - xp.log(rho)).sum())
    c, e = to_host(c), to_host(e)
    psi = _digamma_sum(c + k) - _digamma_sum(e + k)
    value = (p.shape[1] * log_ratio + psi) / n + math.log(m / (n - 1))
    return Score(
        value,
        metric="knn_kl",
        backend=engine.name,
        n=n,
        m=m,
        details={"k": k, "coincident_p": int((c > 0).sum()), "coincident_q": int((e > 0).sum())},
    )


def knn_entropy(X, *, k=1, backend=None) -> Score:
    r"""Differential entropy from k-nearest-neighbour distances (the Kozachenko-Leonenko estimator), in nats.

    H = psi(n) - psi(k) + ln V_d + (d/n) sum_i ln eps_k(i),

    with eps_k(i) the Euclidean distance from x_i to its k-th nearest other row, V_d = pi^(d/2) / Gamma(d/2 + 1) the
    volume of the unit ball and psi the digamma function (:func:`digamma`). Kozachenko & Leonenko, "Sample estimate
    of the entropy of a random vector", Problems of Information Transmission 23(2), 1987 (k = 1); for general k,
    Kraskov, Stögbauer & Grassberger, Phys. Rev. E 69, 2004, eq. 20. Consistent for densities, no fit.

    Coincident points: with c_i the other rows at distance 0 from x_i, eps is the distance to the k-th row at a
    positive distance and psi(k) becomes psi(k + c_i) in that point's term (the module's rule):
    H = psi(n) + ln V_d + (1/n) sum_i [d ln eps(i) - psi(k + c_i)].

    Parameters
    ----------
    X : array (n, d)
        Samples, n >= 2.
    k : int, default 1
        1 <= k <= n - 1.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Score
        In nats (divide by ln 2 for bits). ``.details``: ``k`` and ``coincident`` (rows with a coincident row).
        Scaling X by c adds d ln|c|; a translation changes nothing.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.random.default_rng(0).normal(size=(5000, 2))
    >>> print(f"{gm.knn_entropy(X):.2f}")  # analytic: ln(2 pi e) = 2.838
    2.83
    """
    engine = get_backend(backend, X)
    X = check_embeddings(X, "X", device=engine.device)
    k = _check_k(k, X, "X")
    n, d = X.shape
    (points,) = engine.points(X)
    eps, c = positive_neighbor_distances(engine, points, None, k, n - 1, "X")
    xp = array_namespace(eps)
    log_eps = to_float(xp.log(eps).sum())
    c = to_host(c)
    value = digamma(n) + log_unit_ball_volume(d) + (d * log_eps - _digamma_sum(c + k)) / n
    return Score(
        value, metric="knn_entropy", backend=engine.name, n=n, details={"k": k, "coincident": int((c > 0).sum())}
    )


def vae_latent_kl(mu, logvar, *, threshold=0.01) -> VAELatentKL:
    r"""KL(N(mu, sigma^2) || N(0, 1)) per latent dimension of a VAE, and its active units (posterior collapse).

    For the encoder's Gaussian posteriors q(z | x_i) = N(mu_i, diag exp(logvar_i)) over n samples:

    - per dimension j: KL_j = (1/n) sum_i 1/2 (mu_ij^2 + sigma_ij^2 - ln sigma_ij^2 - 1), the VAE regulariser
      (Kingma & Welling 2014, appendix B) averaged over the samples; ``total`` = sum_j KL_j.
    - active units (Burda, Grosse & Salakhutdinov, "Importance weighted autoencoders", ICLR 2016, section 5.2):
      A_j = Cov_x(E_{q(z|x)}[z_j]) = the variance over samples of mu_ij; unit j is active when A_j > ``threshold``.
      A collapsed unit has KL_j ~ 0 and A_j ~ 0: its posterior is the prior whatever x is.

    Parameters
    ----------
    mu : array (n, d)
        Posterior means, n >= 2 (the variance of the means needs two samples).
    logvar : array (n, d)
        Posterior log-variances ln sigma^2, the same shape as ``mu``.
    threshold : float >= 0, default 0.01
        Burda et al.'s 10^-2.

    Returns
    -------
    VAELatentKL
        ``total``, ``per_dimension`` (d,), ``active_units`` (a count), ``active`` (d,) bool,
        ``variance_of_mean`` (d,), ``threshold``, ``n``, ``d``; arrays are NumPy float64.

    Notes
    -----
    Computed in float64 (float32 inputs are converted exactly) on NumPy, or on CuPy for GPU arrays (the results
    come back as NumPy arrays). sigma^2 - ln sigma^2 - 1 is evaluated as expm1(logvar) - logvar, which keeps its
    digits for logvar near 0. A_j is the unbiased sample variance (divided by n - 1), as the code of He et al.
    (2019, "Lagging inference networks") computes it; the two conventions differ by a factor n / (n - 1).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> mu = np.column_stack([rng.normal(size=500), np.zeros(500)])  # the second unit has collapsed
    >>> r = gm.vae_latent_kl(mu, np.zeros((500, 2)))
    >>> r.active_units, np.round(r.per_dimension, 3).tolist()
    (1, [0.514, 0.0])
    """
    threshold = check_nonnegative(threshold, "threshold")
    xp = array_namespace(mu, logvar)
    device = None if xp is np else "gpu"
    mu = check_embeddings(mu, "mu", device=device)
    logvar = check_embeddings(logvar, "logvar", device=device)
    if logvar.shape != mu.shape:
        raise ValueError(f"logvar: has shape {tuple(logvar.shape)} but mu has {tuple(mu.shape)}; one per mean")
    n, d = mu.shape
    if n < 2:
        raise ValueError(f"mu: needs at least 2 rows (samples) for the variance of the means, got {n}")
    mu, logvar = mu.astype(xp.float64), logvar.astype(xp.float64)
    with np.errstate(over="ignore"):
        excess = xp.expm1(logvar) - logvar
    if not bool(xp.all(xp.isfinite(excess))):
        raise ValueError("logvar: exp(logvar) overflows float64 (a log-variance above ~709)")
    per_dimension = to_host(0.5 * (mu * mu + excess).mean(axis=0))
    variance = to_host(mu.var(axis=0, ddof=1))
    active = variance > threshold
    return VAELatentKL(
        total=math.fsum(per_dimension.tolist()),
        per_dimension=per_dimension,
        active_units=int(active.sum()),
        active=active,
        variance_of_mean=variance,
        threshold=threshold,
        n=n,
        d=d,
    )
