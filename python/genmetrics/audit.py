"""Sample-level auditing of a generative model (Alaa et al., ICML 2022, "How faithful is your synthetic data?").

The fidelity metrics average per-sample judgements; :func:`audit` returns the judgements themselves, one per
generated sample, from the same passes over the pairs, and the metrics before and after discarding the samples
it rejects. The paper's model auditing keeps a generated sample y_j when it is

* **in the alpha-support** of the real set: ||y_j - c|| <= quantile_alpha_i ||x_i - c||, c the real mean (the
  geometry of alpha-precision in :func:`genmetrics.alpha_precision`, at one alpha), and
* **authentic** (only when a training set is given): not a copy of a training sample by the corrected rule of
  :func:`genmetrics.authenticity`, d(y_j, x*) >= rho(x*) for the training point x* nearest to it.

Two more judgements come with every sample, for inspection: ``real_balls_per_fake`` (the number of real k-NN
balls holding it: precision membership and its density contribution, :func:`genmetrics.prdc`) and ``realism``
(:func:`genmetrics.precision_recall`'s realism score).

Discarding is post hoc: the kept set's metrics (``after``) are measured on the same real (and training) sets
that chose it, so they show what the filter does to those sets, not an independent test of the filtered model.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .distances import fd
from .engine import get_backend
from .engine.points import as_numpy
from .fidelity import (
    DuplicatePointsWarning,
    SharedPasses,
    alpha_precision,
    alpha_precision_on,
    authenticity,
    check_real_fake,
    distance_to,
    prdc,
    prdc_on,
    precision_recall_on,
)
from .reference import as_reference
from .support.arrays import array_namespace, to_host
from .support.results import Audit
from .support.validation import check_pair

#: the metrics of ``Audit.before`` / ``Audit.after``
AUDIT_METRICS = (
    "alpha_precision",
    "beta_coverage",
    "authenticity",
    "precision",
    "recall",
    "density",
    "coverage",
    "fd",
)


#: the judgements ``keep`` can require
CRITERIA = ("support", "authentic", "real_balls")


def audit(real, fake, train=None, *, alpha=0.95, k=5, criteria=("support", "authentic"), backend=None) -> Audit:
    r"""Judge every generated sample, keep the faithful ones, and measure the metrics before and after.

    With c the mean of the real set, R_alpha the alpha-quantile (``np.quantile``, linear interpolation) of the
    real distances ||x_i - c||, and x*_j the training point nearest to y_j::

        in_support_j = ||y_j - c|| <= R_alpha
        authentic_j  = not d(y_j, x*_j) < rho(x*_j)         (rho: distance to the nearest other training point)
        in_real_balls_j = exists i: d(x_i, y_j) < r_i          (r_i: distance to the k-th nearest other real point)
        keep_j       = in_support_j and authentic_j          (the default ``criteria``; authentic_j needs ``train``)

    The alpha-support is one ball around the real mean: it rejects samples far from the data as a whole (the
    paper computes it in a one-class embedding that makes the data a ball; pass embeddings of that kind for
    its behaviour). For data of several separated modes, samples between the modes stay in the support;
    ``criteria=("real_balls", ...)`` keeps only samples inside a real sample's k-NN ball (PRDC's precision
    membership), which follows the modes.

    Parameters
    ----------
    real : array (n, d) or Reference
        Held-out real embeddings, n >= k + 1. A :class:`genmetrics.Reference` lends its k-NN distances (and its
        training set when ``train`` is None).
    fake : array (m, d)
        Generated embeddings, m >= k + 1.
    train : array (n_train, d), optional, default None
        The model's training embeddings: the authenticity judgement, and ``authenticity`` in ``before``/
        ``after``, are against it. Without it no sample is judged a copy, and the ``authenticity`` metric is
        against ``real`` (as in :func:`genmetrics.alpha_precision`).
    alpha : float in (0, 1], default 0.95
        The share of the real set the support keeps (the paper's alpha); 1 keeps the ball holding every real
        sample.
    k : int, default 5
        Neighbourhood size of the PRDC balls and of the realism score, 1 <= k <= min(n, m) - 1. The balls are
        prdc's (strict ``<``): a real sample with k exact duplicates has a ball of radius 0 that holds nothing
        (no :class:`~genmetrics.DuplicatePointsWarning` is raised here).
    criteria : sequence of {"support", "authentic", "real_balls"}, default ("support", "authentic")
        The judgements a sample must pass to be kept; "authentic" is ignored without ``train``.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Audit
        Per generated sample (m,): ``in_support``, ``authentic`` (None without ``train``), ``in_real_balls``,
        ``real_balls_per_fake``, ``realism``, ``keep``; ``keep_indices``; ``before`` and ``after``, dicts of
        :data:`AUDIT_METRICS` on all generated samples and on the kept ones (a metric the kept set is too small
        for is left out of ``after`` and its reason is in ``skipped``).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 8))
    >>> fake = np.concatenate([rng.normal(size=(400, 8)), rng.normal(size=(100, 8)) * 3])  # 100 off-support
    >>> result = gm.audit(real, fake)
    >>> print(result.keep.sum(), result.keep[400:].sum())
    381 0
    >>> print(f"{result.before['precision']:.3f} -> {result.after['precision']:.3f}")
    0.754 -> 0.971
    """
    reference = as_reference(real)
    # a Reference with a training set (as real or as train) lends its training set and nearest-other distances
    train_reference = as_reference(train)
    if train is None and reference is not None and reference.train is not None:
        train_reference = reference
    if train_reference is not None:
        train = train_reference.train
    engine = get_backend(backend, real, fake)
    real, fake, k = check_real_fake(engine, real, fake, k)
    alpha = _check_alpha(alpha)
    criteria = _check_criteria(criteria)
    if train is not None:
        _, train = check_pair(fake, train, "fake", "train", device=engine.device)
        if train.shape[0] < 2:
            raise ValueError("train: needs at least 2 rows (each training point's nearest other training point)")

    passes = SharedPasses(engine, real, fake, k_max=k, nearest_in_prdc=True, reference=reference)
    with warnings.catch_warnings():  # radius-0 balls (k duplicates) hold nothing: documented above
        warnings.simplefilter("ignore", DuplicatePointsWarning)
        ball_counts = prdc_on(passes, k, inclusive=False, per_sample=True)
    realism = precision_recall_on(passes, k).realism
    alphas = alpha_precision_on(passes, 30, None, "trapezoid")

    real_host, fake_host = to_host(real), to_host(fake)
    center = real_host.astype(np.float64).mean(axis=0)
    support_radius = float(np.quantile(distance_to(real_host, center), alpha))
    in_support = distance_to(fake_host, center) <= support_radius

    authentic = None
    authenticity_before = alphas.authenticity
    if train is not None:
        against_train = authenticity(train_reference or train, fake, per_sample=True, backend=engine.name)
        assert against_train.details is not None  # per_sample=True fills it
        authentic = np.asarray(against_train.details["authentic"])
        authenticity_before = float(against_train)
    real_balls = np.asarray(ball_counts.real_balls_per_fake)
    keep = np.ones(fake.shape[0], dtype=bool)
    for criterion, passed in (("support", in_support), ("authentic", authentic), ("real_balls", real_balls > 0)):
        if criterion in criteria and passed is not None:
            keep &= passed
    keep_indices = np.flatnonzero(keep)

    before = {
        "alpha_precision": alphas.delta_precision_alpha,
        "beta_coverage": alphas.delta_coverage_beta,
        "authenticity": authenticity_before,
        "precision": ball_counts.precision,
        "recall": ball_counts.recall,
        "density": ball_counts.density,
        "coverage": ball_counts.coverage,
        "fd": float(fd(real if reference is None else reference, fake, backend=engine.name)),
    }
    after, skipped = _metrics_of_kept(engine, reference or real, fake, train_reference or train, keep_indices, k)
    return Audit(
        in_support=in_support,
        authentic=authentic,
        in_real_balls=real_balls > 0,
        real_balls_per_fake=real_balls,
        realism=np.asarray(as_numpy(realism)),
        keep=keep,
        keep_indices=keep_indices,
        before=before,
        after=after,
        skipped=skipped,
        alpha=float(alpha),
        k=k,
        criteria=criteria,
        support_radius=support_radius,
        n_real=int(real.shape[0]),
        n_fake=int(fake.shape[0]),
        n_kept=int(keep_indices.size),
        backend=engine.name,
    )


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha: expected a number in (0, 1], got {type(alpha).__name__}")
    if not 0.0 < float(alpha) <= 1.0:
        raise ValueError(f"alpha: must be in (0, 1] (the share of the real set the support holds), got {alpha}")
    return float(alpha)


def _check_criteria(criteria) -> tuple[str, ...]:
    if isinstance(criteria, str):
        criteria = (criteria,)
    try:
        criteria = tuple(criteria)
    except TypeError:
        raise TypeError(
            f"criteria: expected a sequence of names from {CRITERIA}, got {type(criteria).__name__}"
        ) from None
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown or not criteria:
        raise ValueError(f"criteria: expected one or more of {', '.join(map(repr, CRITERIA))}, got {criteria!r}")
    return tuple(dict.fromkeys(criteria))


def _metrics_of_kept(engine, real, fake, train, keep_indices, k):
    """(the metrics of the kept generated samples, {metric: why it is left out})."""
    m = int(keep_indices.size)
    kept = fake if m == fake.shape[0] else fake[array_namespace(fake).asarray(keep_indices)]
    after: dict[str, float] = {}
    skipped: dict[str, str] = {}
    if m == 0:
        return after, dict.fromkeys(AUDIT_METRICS, "no generated sample is kept")
    if m >= k + 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicatePointsWarning)
            kept_prdc = prdc(real, kept, k=k, backend=engine.name)
        after.update(
            precision=kept_prdc.precision,
            recall=kept_prdc.recall,
            density=kept_prdc.density,
            coverage=kept_prdc.coverage,
        )
    else:
        for name in ("precision", "recall", "density", "coverage"):
            skipped[name] = f"{m} sample(s) kept; PRDC with k = {k} needs at least {k + 1}"
    kept_alphas = alpha_precision(real, kept, backend=engine.name)
    after["alpha_precision"] = kept_alphas.delta_precision_alpha
    after["beta_coverage"] = kept_alphas.delta_coverage_beta
    after["authenticity"] = (
        kept_alphas.authenticity if train is None else float(authenticity(train, kept, backend=engine.name))
    )
    if m >= 2:
        after["fd"] = float(fd(real, kept, backend=engine.name))
    else:
        skipped["fd"] = "1 sample kept; FD needs at least 2 (a covariance)"
    return {name: after[name] for name in AUDIT_METRICS if name in after}, skipped
