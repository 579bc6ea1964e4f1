"""Divergence and precision-recall frontiers of quantised distributions: MAUVE and PRD curves.

Both metrics quantise the two sets jointly with k-means (:func:`genmetrics.kmeans`, on the engine: exact
assignments, float64 centroid updates), which turns each set into a histogram over the same clusters, and then
trace a frontier of the two histograms:

=============================  ===============================================================================
:func:`mauve`                  MAUVE (Pillutla et al. 2021): area under the divergence curve of mixtures
:func:`prd_curve`              precision and recall for distributions (Sajjadi et al. 2018), with F_8 and F_1/8
:func:`mauve_from_histograms`  the same on histograms the caller quantised
:func:`prd_from_histograms`    the same on histograms the caller quantised
=============================  ===============================================================================

The clustering is a seeded, deterministic k-means whose result depends on the seed; the reference packages use
other k-means codes (FAISS, scikit-learn's mini-batch k-means), so on sets without a clear cluster structure the
quantisations, and the scores, differ from theirs by the clustering's own variation. On the same histograms the
formulas agree to round-off (tests/test_frontiers.py).
"""

from __future__ import annotations

import math

import numpy as np

from .clustering import kmeans
from .engine import get_backend
from .engine.points import as_numpy
from .support.arrays import array_namespace
from .support.results import Mauve, PRDCurve
from .support.validation import as_real_array, check_fraction, check_int, check_pair, check_positive

# ----------------------------------------------------------------------------------------------------------
# MAUVE
# ----------------------------------------------------------------------------------------------------------


def mauve(
    p_features,
    q_features,
    *,
    num_buckets="auto",
    pca_explained_variance=0.9,
    kmeans_n_init=5,
    kmeans_max_iter=500,
    divergence_curve_discretization_size=25,
    mauve_scaling_factor=5.0,
    seed=0,
    backend=None,
) -> Mauve:
    r"""MAUVE (Pillutla et al., NeurIPS 2021), the area under the divergence frontier of two quantised sets.

    The steps of the mauve-text package (0.4), computed on the engine:

    1. every row of both sets scaled to unit L2 norm; PCA of the union (centered, float64), keeping the fewest
       leading components whose explained variance reaches ``pca_explained_variance``;
    2. k-means of the union (:func:`genmetrics.kmeans`: k-means|| seeding, ``kmeans_n_init`` runs, the best kept) into
       ``num_buckets`` clusters; histograms P (of ``p_features``) and Q (of ``q_features``) over the clusters;
    3. for the mixtures R_l = l P + (1 - l) Q at ``divergence_curve_discretization_size`` weights l evenly
       spaced in [1e-6, 1 - 1e-6], the points (exp(-c KL(Q || R_l)), exp(-c KL(P || R_l))), c =
       ``mauve_scaling_factor``, with the end points (1, 0) and (0, 1); MAUVE is the area under this curve
       (trapezoids), in [0, 1], 1 for P = Q.

    Also returned: the frontier integral FI(P, Q) = 2 sum_i [(p_i + q_i)/4 - p_i q_i (log p_i - log q_i) /
    (2 (p_i - q_i))] (Pillutla et al., JMLR 2023; 0 for P = Q, p_i/4 where q_i = 0), and MAUVE* and FI* of the
    Krichevsky-Trofimov smoothed histograms (counts + 1/2), as mauve-text reports them.

    Deliberate differences from mauve-text: its k-means is FAISS's (random seeding, float32, a fixed number of
    iterations), here k-means|| (k-means++'s D^2 seeding in a few rounds: sequential k-means++ over hundreds of
    buckets cost 5x the whole clustering) with exact float64-decided assignments run to a fixed point (at most
    ``kmeans_max_iter`` updates), so the quantisation, hence the score, differs on sets without a clear cluster
    structure (on the same histograms the values agree to ~1e-15). The area is taken along the curve in the
    order of the mixture weights; mauve-text sorts the points by each coordinate and averages the two areas,
    which is the same polygon except where points tie (P = Q), where its value depends on the sort's order of
    the ties (here exactly 1). The frontier integral is computed without mauve-text's |p - q| <= 1e-8 cut-off
    (the logarithmic mean is evaluated stably instead); the difference is below 1e-16 per bucket.

    Parameters
    ----------
    p_features : array (n, d)
        Features of one set (the reference text, or real samples).
    q_features : array (m, d)
        Features of the other set (the model's).
    num_buckets : int or "auto", default "auto"
        Clusters of the quantisation; "auto": max(2, round(min(n, m) / 10)) (mauve-text's rule).
    pca_explained_variance : float in (0, 1) or None, default 0.9
        Share of variance the PCA keeps (mauve-text's ``kmeans_explained_var``); None clusters the normalised
        features without PCA.
    kmeans_n_init : int, default 5
        k-means seedings (mauve-text's ``kmeans_num_redo``).
    kmeans_max_iter : int, default 500
        Most k-means updates per seeding (mauve-text's default).
    divergence_curve_discretization_size : int, default 25
        Mixture weights on the curve (>= 2).
    mauve_scaling_factor : float, default 5.0
        The constant c of exp(-c KL) (> 0).
    seed : int, default 0
        Seeds the k-means (see :func:`genmetrics.kmeans`).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Mauve
        ``mauve``, ``frontier_integral``, ``mauve_star``, ``frontier_integral_star``, the histograms ``p_hist`` and
        ``q_hist``, the ``divergence_curve`` (points, 2) as mauve-text returns it, the cluster ``labels`` of P's
        and Q's rows, ``num_buckets``, ``pca_components`` and the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> centers = 5.0 * np.eye(8)[:4]
    >>> p = centers[rng.integers(4, size=400)] + 0.1 * rng.normal(size=(400, 8))
    >>> q = centers[rng.choice(4, size=400, p=[0.55, 0.15, 0.15, 0.15])] + 0.1 * rng.normal(size=(400, 8))
    >>> result = gm.mauve(p, q, num_buckets=4)
    >>> print(f"{result.mauve:.3f} {result.frontier_integral:.3f}")
    0.837 0.084
    >>> print(f"{gm.mauve(p, p[::-1], num_buckets=4).mauve:.3f}")
    1.000
    """
    engine = get_backend(backend, p_features, q_features)
    P, Q = check_pair(p_features, q_features, "p_features", "q_features", device=engine.device)
    n, m = int(P.shape[0]), int(Q.shape[0])
    if num_buckets == "auto":
        num_buckets = max(2, int(round(min(n, m) / 10)))
    elif isinstance(num_buckets, str):
        raise ValueError(f"num_buckets: expected an integer or 'auto', got {num_buckets!r}")
    num_buckets = check_int(num_buckets, "num_buckets", low=1, high=n + m)
    if pca_explained_variance is not None:
        pca_explained_variance = check_fraction(pca_explained_variance, "pca_explained_variance")
    kmeans_n_init = check_int(kmeans_n_init, "kmeans_n_init", low=1)
    kmeans_max_iter = check_int(kmeans_max_iter, "kmeans_max_iter", low=1)
    size = check_int(divergence_curve_discretization_size, "divergence_curve_discretization_size", low=2)
    c = check_positive(mauve_scaling_factor, "mauve_scaling_factor")
    seed = check_int(seed, "seed", low=0)

    xp = array_namespace(P)
    Z = _unit_rows(xp.concatenate([P.astype(xp.float64), Q.astype(xp.float64)]))
    components = int(Z.shape[1])
    if pca_explained_variance is not None:
        Z, components = _pca(engine, Z, pca_explained_variance)
    clusters = kmeans(
        Z,
        n_clusters=num_buckets,
        n_init=kmeans_n_init,
        max_iter=kmeans_max_iter,
        tol=0.0,
        init="k-means||",
        seed=seed,
        backend=engine.name,
    )
    labels = clusters.labels
    p_counts = np.bincount(labels[:n], minlength=num_buckets).astype(np.float64)
    q_counts = np.bincount(labels[n:], minlength=num_buckets).astype(np.float64)
    plain = mauve_from_histograms(p_counts / n, q_counts / m, discretization_size=size, scaling_factor=c)
    smoothed = mauve_from_histograms(
        _normalised(p_counts + 0.5), _normalised(q_counts + 0.5), discretization_size=size, scaling_factor=c
    )
    return Mauve(
        mauve=plain["mauve"],
        frontier_integral=plain["frontier_integral"],
        mauve_star=smoothed["mauve"],
        frontier_integral_star=smoothed["frontier_integral"],
        num_buckets=num_buckets,
        pca_components=components,
        scaling_factor=c,
        seed=seed,
        n_p=n,
        n_q=m,
        backend=engine.name,
        p_hist=plain["p_hist"],
        q_hist=plain["q_hist"],
        divergence_curve=plain["divergence_curve"],
        mixture_weights=plain["mixture_weights"],
        p_labels=labels[:n],
        q_labels=labels[n:],
    )


def mauve_from_histograms(p_hist, q_hist, *, discretization_size=25, scaling_factor=5.0) -> dict:
    """MAUVE and the frontier integral of two histograms over the same buckets (the formulas of :func:`mauve`).

    Parameters
    ----------
    p_hist : array (k,)
        Non-negative, normalised to sum 1 here.
    q_hist : array (k,)
    discretization_size : int, default 25
        Mixture weights, evenly spaced in [1e-6, 1 - 1e-6].
    scaling_factor : float, default 5.0
        c of exp(-c KL).

    Returns
    -------
    dict
        ``mauve``, ``frontier_integral`` (floats), ``divergence_curve`` (discretization_size + 2, 2) with the
        points (exp(-c KL(Q || R)), exp(-c KL(P || R))) from (1, 0) to (0, 1), ``mixture_weights``, ``p_hist``,
        ``q_hist`` (normalised, float64).

    Examples
    --------
    >>> from genmetrics.frontiers import mauve_from_histograms
    >>> round(mauve_from_histograms([0.5, 0.5], [0.5, 0.5])["mauve"], 12)
    1.0
    >>> round(mauve_from_histograms([1.0, 0.0], [0.0, 1.0])["frontier_integral"], 12)  # disjoint: FI = 1
    1.0
    """
    p, q = _histogram(p_hist, "p_hist"), _histogram(q_hist, "q_hist")
    if p.shape != q.shape:
        raise ValueError(f"q_hist: has {q.size} buckets but p_hist has {p.size}")
    size = check_int(discretization_size, "discretization_size", low=2)
    c = check_positive(scaling_factor, "scaling_factor")
    weights = np.linspace(1e-6, 1 - 1e-6, size)
    curve = np.empty((size + 2, 2))
    curve[0], curve[-1] = (1.0, 0.0), (0.0, 1.0)  # exp(-c [0, inf]) and exp(-c [inf, 0])
    for i, w in enumerate(weights, start=1):
        r = w * p + (1 - w) * q
        curve[i] = math.exp(-c * _kl(q, r)), math.exp(-c * _kl(p, r))
    x, y = curve[:, 0], curve[:, 1]
    # the curve runs from (1, 0) to (0, 1) as the weight grows: the area under it, by trapezoids in that order
    area = float(np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:])) / 2)
    return {
        "mauve": area,
        "frontier_integral": _frontier_integral(p, q),
        "divergence_curve": curve,
        "mixture_weights": weights,
        "p_hist": p,
        "q_hist": q,
    }


def _unit_rows(Z):
    """Rows scaled to unit L2 norm (float64); rows of zero norm stay zero (as scikit-learn's ``normalize``)."""
    xp = array_namespace(Z)
    norms = xp.sqrt((Z * Z).sum(axis=1))
    norms[norms == 0] = 1.0
    return Z / norms[:, None]


def _pca(engine, Z, explained: float):
    """(Z centered and projected on its fewest leading principal axes that explain ``explained`` of the variance,
    the number of axes). The axes: eigenvectors of the float64 scatter matrix Z_c^T Z_c (``engine.column_gram``)."""
    xp = array_namespace(Z)
    centered = xp.ascontiguousarray(Z - Z.mean(axis=0))
    scatter = as_numpy(engine.column_gram(centered))
    values, vectors = np.linalg.eigh((scatter + scatter.T) / 2)
    values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
    total = values.sum()
    if total == 0:  # every row equal: one axis, all zero
        return xp.zeros((Z.shape[0], 1)), 1
    kept = int(np.argmax(np.cumsum(values) / total >= explained)) + 1
    return xp.ascontiguousarray(centered @ xp.asarray(np.ascontiguousarray(vectors[:, :kept]))), kept


def _histogram(values, name: str) -> np.ndarray:
    h = as_real_array(values, name).astype(np.float64)
    if h.ndim != 1 or h.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D histogram, got shape {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h < 0) or h.sum() <= 0:
        raise ValueError(f"{name}: must be finite, >= 0 and not all zero")
    return _normalised(h)


def _normalised(h: np.ndarray) -> np.ndarray:
    return h / h.sum()


def _kl(a: np.ndarray, b: np.ndarray) -> float:
    """KL(a || b) of histograms, 0 log 0 = 0; inf where a > 0 = b."""
    support = a > 0
    if np.any(b[support] == 0):
        return math.inf
    return float(np.sum(a[support] * np.log(a[support] / b[support])))


def _frontier_integral(p: np.ndarray, q: np.ndarray) -> float:
    """2 sum_i [(p_i + q_i)/4 - p_i q_i / (2 L(p_i, q_i))], L the logarithmic mean (p - q) / (log p - log q)."""
    total = 0.0
    for a, b in zip(p.tolist(), q.tolist()):
        if a == 0 or b == 0:
            total += (a + b) / 4
            continue
        t = (a - b) / b  # log(a / b) / (a - b) = log1p(t) / (t b), with log1p(t) / t -> 1 as t -> 0
        ratio = 1.0 if t == 0 else math.log1p(t) / t
        total += (a + b) / 4 - a * ratio / 2
    return 2.0 * total


# ----------------------------------------------------------------------------------------------------------
# precision and recall for distributions (PRD)
# ----------------------------------------------------------------------------------------------------------


def prd_curve(
    real,
    fake,
    *,
    num_clusters=20,
    num_angles=1001,
    num_runs=10,
    beta=8.0,
    kmeans_n_init=10,
    seed=0,
    backend=None,
) -> PRDCurve:
    r"""Precision and recall for distributions (Sajjadi et al., NeurIPS 2018): the PRD curve and F_8, F_1/8.

    The union of both sets is clustered by k-means into ``num_clusters`` clusters; P (real) and Q (fake) are the
    shares of each set in the clusters. For slopes l = tan(a) at ``num_angles`` angles a evenly spaced in
    [1e-10, pi/2 - 1e-10]::

        precision(l) = sum_i min(l P_i, Q_i)        recall(l) = precision(l) / l

    averaged over ``num_runs`` clusterings of different seeds (the frontier of achievable (precision, recall)
    pairs of Q with respect to P). The summaries are F_beta = max over the curve of
    (1 + beta^2) p r / (beta^2 p + r) and F_1/beta likewise: F_8 is recall-like (does Q cover P?), F_1/8
    precision-like (is Q inside P?).

    Differences from the authors' code (msmsajjadi/precision-recall-distributions, compare_gan): it clusters with
    scikit-learn's MiniBatchKMeans (10 initialisations, unseeded), here full-batch k-means with k-means++
    (``kmeans_n_init`` seedings per run, seeded, deterministic); it refuses sets of different sizes unless told
    otherwise, here any sizes are accepted (unequal sizes weigh the clustering towards the larger set, as the
    authors warn); precision and recall are clipped to [0, 1] (round-off puts them an ulp above 1 for P = Q,
    where the original's F_beta raises); F_beta is the paper's formula (the code adds 1e-10 to its denominator).

    Parameters
    ----------
    real : array (n, d)
        The reference distribution P.
    fake : array (m, d)
        The evaluated distribution Q.
    num_clusters : int, default 20
        Clusters of each quantisation (<= n + m).
    num_angles : int, default 1001
        Points of the curve, in [3, 1e6].
    num_runs : int, default 10
        Clusterings averaged (>= 1).
    beta : float, default 8.0
        The F_beta summary's beta (> 0); F_1/beta comes with it.
    kmeans_n_init : int, default 10
        k-means seedings per clustering, the best kept.
    seed : int, default 0
        Seeds the runs: run r clusters with the r-th integer drawn by ``numpy.random.default_rng(seed)``.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    PRDCurve
        ``precision``, ``recall`` (num_angles,) float64 (mean over runs), ``slopes``, ``f_beta``,
        ``f_beta_inv``, the per-run histograms ``real_hist``/``fake_hist`` (num_runs, num_clusters) and the
        parameters.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> centers = 10.0 * np.eye(4)
    >>> real = centers[rng.integers(4, size=400)] + rng.normal(size=(400, 4))
    >>> fake = centers[rng.integers(2, size=400)] + rng.normal(size=(400, 4))  # two of the four modes
    >>> result = gm.prd_curve(real, fake, num_clusters=4, num_runs=2)
    >>> print(f"F_8 = {result.f_beta:.2f}, F_1/8 = {result.f_beta_inv:.2f}")
    F_8 = 0.45, F_1/8 = 0.98
    """
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    n, m = int(real.shape[0]), int(fake.shape[0])
    num_clusters = check_int(num_clusters, "num_clusters", low=1, high=n + m)
    num_angles = check_int(num_angles, "num_angles", low=3, high=1_000_000)
    num_runs = check_int(num_runs, "num_runs", low=1)
    beta = check_positive(beta, "beta")
    kmeans_n_init = check_int(kmeans_n_init, "kmeans_n_init", low=1)
    seed = check_int(seed, "seed", low=0)
    xp = array_namespace(real)
    union = xp.concatenate([real, fake])
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=num_runs)
    real_hist = np.empty((num_runs, num_clusters))
    fake_hist = np.empty((num_runs, num_clusters))
    precisions = np.empty((num_runs, num_angles))
    recalls = np.empty((num_runs, num_angles))
    for run, run_seed in enumerate(seeds):
        labels = kmeans(
            union, n_clusters=num_clusters, n_init=kmeans_n_init, seed=int(run_seed), backend=engine.name
        ).labels
        real_hist[run] = np.bincount(labels[:n], minlength=num_clusters) / n
        fake_hist[run] = np.bincount(labels[n:], minlength=num_clusters) / m
        curve = prd_from_histograms(real_hist[run], fake_hist[run], num_angles=num_angles)
        precisions[run], recalls[run] = curve["precision"], curve["recall"]
    precision, recall = precisions.mean(axis=0), recalls.mean(axis=0)
    return PRDCurve(
        f_beta=_max_f_beta(precision, recall, beta),
        f_beta_inv=_max_f_beta(precision, recall, 1.0 / beta),
        beta=beta,
        num_clusters=num_clusters,
        num_angles=num_angles,
        num_runs=num_runs,
        seed=seed,
        n_real=n,
        n_fake=m,
        backend=engine.name,
        precision=precision,
        recall=recall,
        slopes=curve["slopes"],
        real_hist=real_hist,
        fake_hist=fake_hist,
    )


def prd_from_histograms(real_hist, fake_hist, *, num_angles=1001) -> dict:
    """The PRD curve of two histograms over the same clusters (the formulas of :func:`prd_curve`, one run).

    Parameters
    ----------
    real_hist : array (k,)
        P, non-negative, normalised to sum 1 here.
    fake_hist : array (k,)
        Q.
    num_angles : int, default 1001
        Points of the curve, in [3, 1e6].

    Returns
    -------
    dict
        ``precision``, ``recall`` (clipped to [0, 1]) and ``slopes`` (num_angles,) float64.

    Examples
    --------
    >>> from genmetrics.frontiers import prd_from_histograms
    >>> curve = prd_from_histograms([0.5, 0.5], [1.0, 0.0], num_angles=3)  # Q covers half of P
    >>> curve["precision"].round(6), curve["recall"].round(6)
    (array([0. , 0.5, 1. ]), array([0.5, 0.5, 0. ]))
    """
    P, Q = _histogram(real_hist, "real_hist"), _histogram(fake_hist, "fake_hist")
    if P.shape != Q.shape:
        raise ValueError(f"fake_hist: has {Q.size} clusters but real_hist has {P.size}")
    num_angles = check_int(num_angles, "num_angles", low=3, high=1_000_000)
    slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, num_angles))
    precision = np.minimum(slopes[:, None] * P[None, :], Q[None, :]).sum(axis=1)
    recall = precision / slopes
    return {"precision": np.clip(precision, 0.0, 1.0), "recall": np.clip(recall, 0.0, 1.0), "slopes": slopes}


def _max_f_beta(precision: np.ndarray, recall: np.ndarray, beta: float) -> float:
    b2 = beta * beta
    denominator = b2 * precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(denominator > 0, (1 + b2) * precision * recall / denominator, 0.0)
    return float(f.max())
