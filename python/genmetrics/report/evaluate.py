"""One call to evaluate a generative model: every metric the inputs allow, with how it was computed.

:func:`evaluate` takes embeddings of real and generated samples (and optionally of the training samples) and
returns a :class:`Report`: fidelity and coverage (PRDC, improved precision/recall, alpha-precision/beta-coverage),
memorisation (authenticity), diversity of both sets at equal size (Vendi, RKE, and their curves against the
sample size), and distances between the two distributions (FD, KID, CMMD-style MMD, KL of Gaussian fits, k-NN KL
divergences in both directions).
Each entry carries its parameters and its time; the report collects the warnings (unequal sizes, duplicates,
too few samples for k) and prints as JSON or as a markdown table a paper can paste.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..engine import get_backend, num_threads
from ..reference import as_reference
from ..support.arrays import array_namespace
from ..support.validation import check_bool, check_choice, check_int, check_kernel, check_nonnegative, check_pair

#: Every metric evaluate() knows, by group, in the order of the report.
METRIC_GROUPS = {
    "fidelity": ("prdc", "precision_recall", "alpha_precision", "p_precision_recall", "rarity_score", "top_pr"),
    "memorisation": ("authenticity", "ct_score", "fls"),
    "diversity": ("vendi", "rke", "diversity_curve", "diversity_modes"),
    "distance": (
        "fd",
        "kid",
        "cmmd",
        "gaussian_kl",
        "knn_kl",
        "sliced_wasserstein",
        "fd_infinity",
        "mauve",
        "prd_curve",
    ),
}
METRICS = tuple(name for group in METRIC_GROUPS.values() for name in group)
GROUP_OF = {name: group for group, names in METRIC_GROUPS.items() for name in names}
#: The metrics that need the training set (``train=``): left out without it.
NEEDS_TRAIN = ("authenticity", "ct_score", "fls")
#: Left out of the default "standard" selection for their cost at n = 10,000, d = 2,048 (each a multiple of the
#: rest together: top_pr's bandwidth search, fls's EM over all pairs, fd_infinity's 15 subset FDs, the k-means of
#: mauve and prd_curve); "all", their group or their name asks for them.
EXPENSIVE = ("top_pr", "fls", "fd_infinity", "mauve", "prd_curve")
#: Views for the figure rather than numbers (:meth:`Report.plot` draws them): asked for by name or group, or "all".
VIEWS = ("diversity_modes",)
#: evaluate()'s default selection.
STANDARD = tuple(name for name in METRICS if name not in EXPENSIVE + VIEWS)

#: evaluate()'s own arguments: a metric's error that names one of them (or an environment setting,
#: ``GENMETRICS_...``) is the caller's to fix, so it is raised, never turned into a skipped metric.
SETTINGS = ("metrics", "k", "kernel", "seed", "backend", "progress", "ridge")

#: What each authenticity number was measured against: the table names it, since the two are easily confused.
AUTHENTICITY_AGAINST = {"authenticity": "train", "alpha_precision.authenticity": "real"}


def label(name: str) -> str:
    """The name of a number as the report's tables show it: authenticity says what it was measured against."""
    against = AUTHENTICITY_AGAINST.get(name)
    return name if against is None else f"{name} (against {against})"


@dataclass(frozen=True)
class MetricEntry:
    """One metric of a report: its value (a float, or a dict of floats), parameters and wall time."""

    name: str
    group: str
    value: object
    parameters: dict = field(default_factory=dict)
    seconds: float = 0.0

    def numbers(self) -> dict:
        """The entry's scalar numbers by name (``name`` itself for a single value)."""
        if isinstance(self.value, dict):
            out = {}
            for key, v in self.value.items():
                if isinstance(v, (int, float)):
                    out[f"{self.name}.{key}"] = v
                elif isinstance(v, dict) and "mean" in v:  # a curve: its value at the largest size
                    out[f"{self.name}.{key}"] = float(np.asarray(v["mean"])[-1])
            return out
        return {self.name: self.value}


def _plain(value):
    """JSON-friendly: NumPy scalars and arrays to Python numbers and lists; inf and NaN as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass(frozen=True)
class Report:
    """The metrics of one evaluation, with the inputs' sizes, the backend, warnings and timings.

    ``report["prdc"]`` is an entry's value; ``report.numbers()`` every scalar by dotted name
    (``"prdc.recall"``); :meth:`to_json`, :meth:`to_markdown` and :meth:`plot` export it.
    """

    entries: tuple
    info: dict
    warnings: tuple = ()

    def __getitem__(self, name: str):
        for entry in self.entries:
            if entry.name == name:
                return entry.value
        raise KeyError(f"{name!r} is not in this report (it has {', '.join(e.name for e in self.entries)})")

    def __contains__(self, name: str) -> bool:
        return any(entry.name == name for entry in self.entries)

    def numbers(self) -> dict:
        out = {}
        for entry in self.entries:
            out.update(entry.numbers())
        return out

    def to_dict(self) -> dict:
        return _plain(
            {
                "info": self.info,
                "warnings": list(self.warnings),
                "metrics": {
                    e.name: {"group": e.group, "value": e.value, "parameters": e.parameters, "seconds": e.seconds}
                    for e in self.entries
                },
            }
        )

    def to_json(self, path=None, indent: int = 2) -> str:
        """The report as JSON (written to ``path`` too when given)."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w") as fh:
                fh.write(text + "\n")
        return text

    def to_markdown(self) -> str:
        """A markdown table (group, metric, value, parameters, seconds), then the warnings.

        An entry's time stands on its first row only: the numbers of one entry (``prdc.precision``,
        ``prdc.recall``, ...) are computed together. Authenticity rows say what they were measured against.
        """
        lines = [
            f"Real: {self.info['n_real']} samples, generated: {self.info['n_fake']}"
            + (f", training: {self.info['n_train']}" if self.info.get("n_train") else "")
            + f"; d = {self.info['d']}; backend {self.info['backend']}.",
            "",
            "| group | metric | value | parameters | seconds |",
            "|---|---|---|---|---|",
        ]
        for entry in self.entries:
            params = ", ".join(f"{k}={_short(v)}" for k, v in entry.parameters.items())
            seconds = f"{entry.seconds:.3g}"
            for name, value in entry.numbers().items():
                lines.append(f"| {entry.group} | {label(name)} | {_short(value)} | {params} | {seconds} |")
                seconds = ""
        if self.warnings:
            lines += ["", "Warnings:"] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def plot(self, path):
        """A figure of the curves (alpha-precision / beta-coverage, diversity against n) and the metric table,
        saved to ``path``. Needs matplotlib (``pip install 'genmetrics[plot]'``)."""
        from .plot import plot_report  # noqa: PLC0415 (matplotlib is optional)

        return plot_report(self, path)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return str(value)


def _selected(metrics, have_train: bool, notes: list):
    """The metric names asked for ("all", groups and names, alone or in a list), each once, in the order asked."""
    if not isinstance(metrics, (str, list, tuple)):
        raise TypeError(
            f"metrics: expected 'all', a group or metric name, or a list of them, got {type(metrics).__name__}"
        )
    items = [metrics] if isinstance(metrics, str) else list(metrics)
    names = [
        x
        for item in items
        for x in (
            {"all": METRICS, "standard": STANDARD}.get(item, METRIC_GROUPS.get(item, (item,)))
            if isinstance(item, str)
            else (item,)
        )
    ]
    for name in names:
        check_choice(name, "metrics", METRICS + tuple(METRIC_GROUPS) + ("all", "standard"))
    names = list(dict.fromkeys(names))  # each once, in the order asked
    for name in NEEDS_TRAIN:
        if name in names and not have_train:
            names.remove(name)
            if "all" not in items and "standard" not in items:
                why = " (alpha_precision reports authenticity against the real set)" if name == "authenticity" else ""
                notes.append(f"{name} skipped: it needs train={why}")
    return names


def evaluate(
    real, fake, train=None, *, metrics="standard", k=5, kernel="cosine", seed=0, progress=False, ridge=0.0, backend=None
) -> Report:
    r"""Every metric that the inputs allow, in one call.

    Parameters
    ----------
    real : array (n, d) or Reference
        Embeddings of real samples (held out from training, when ``train`` is given), or a
        :class:`genmetrics.Reference` built from them: its precomputed real-side quantities (k-NN distances,
        moments, bandwidth, real diversity; its training set when ``train`` is None) are used, with numbers
        identical to the direct call.
    fake : array (m, d)
        Embeddings of generated samples.
    train : array (t, d), optional, default None
        Embeddings of the training samples: authenticity (memorisation) is measured against them.
    metrics : str or list of str, default "standard"
        "standard" (every metric but the costly :data:`EXPENSIVE` ones: top_pr, fls, fd_infinity, mauve,
        prd_curve, and the figure's :data:`VIEWS`: diversity_modes), "all", a group ("fidelity", "memorisation",
        "diversity", "distance"), a metric name or a list of them. Of :data:`METRICS`: prdc, precision_recall,
        alpha_precision, p_precision_recall, rarity_score, top_pr, authenticity, ct_score, fls, vendi, rke,
        diversity_curve, diversity_modes, fd, kid, cmmd, gaussian_kl, knn_kl,
        sliced_wasserstein, fd_infinity, mauve, prd_curve. authenticity, ct_score and fls need ``train``; ct_score
        and fls take ``real`` as the held-out test set.
    k : int, default 5
        Neighbourhood size of PRDC (improved precision/recall uses its paper's k = 3).
    kernel : str, default "cosine"
        Kernel of the Vendi score (RKE uses rbf with the median-heuristic bandwidth of the real set).
    seed : int, default 0
        Seeds every random choice (subsets for equal sizes, KID subsets, bootstrap draws).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    progress : bool, default False
        Show a progress bar over the metrics (tqdm).
    ridge : float >= 0, default 0.0
        Added to the diagonals of both covariances of the Gaussian KL divergence (see
        :func:`genmetrics.gaussian_kl`): with ``ridge`` > 0 it is defined for singular covariances too
        (n <= d, constant or linearly dependent features), which otherwise skip it with a warning.

    Returns
    -------
    Report

    Raises
    ------
    ValueError, TypeError
        For a bad input or argument, or a bad ``GENMETRICS_NUM_THREADS``, before any metric is computed.
        A metric the data do not allow (a singular covariance, too few samples for k) is skipped with a
        warning in the report instead; an error of a metric that names an argument above is raised.

    Notes
    -----
    Diversity is computed for both sets at the same size: plug-in Vendi and RKE grow with n (Farnia, Jalali
    & Ospanov 2026), so the larger set is subsampled (seeded) to the smaller one's size, with a warning.
    The rbf bandwidth of RKE is chosen once, on the real set, and used for both.
    knn_kl is the k-NN estimate of :func:`genmetrics.knn_kl_divergence` with k = 1 (its paper's main case), both
    ways: ``knn_kl.real_fake`` = KL(real || fake) (an estimate; can be slightly negative) and ``knn_kl.fake_real`` =
    KL(fake || real); a set whose rows all coincide skips it with a warning.
    KID averages 100 subsets of min(1000, n, m) samples; when both sets have exactly that many (1,000 or fewer
    samples each, equally many), every subset is the whole sets: one is computed and its std is 0 by
    construction, which the entry's parameters and a warning say.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(200, 16))
    >>> fake = np.random.default_rng(1).normal(size=(150, 16)) + 0.5
    >>> report = gm.evaluate(real, fake, metrics=["prdc", "fd"])
    >>> print(f"{report['fd']:.3f}")
    5.201
    >>> {name: round(value, 3) for name, value in report["prdc"].items()}
    {'precision': 0.713, 'recall': 0.72, 'density': 0.745, 'coverage': 0.735}
    """
    # every setting is checked before any work (even before the inputs are copied): a bad one must raise, not
    # skip metrics
    num_threads()
    seed = check_int(seed, "seed", low=0)
    k = check_int(k, "k", low=1)
    kernel = check_kernel(kernel)
    progress = check_bool(progress, "progress")
    ridge = check_nonnegative(ridge, "ridge")
    notes: list[str] = []
    reference = as_reference(real)
    train_reference = as_reference(train)
    if train is None and reference is not None and reference.train is not None:
        train_reference = reference  # the Reference's training set, with its nearest-other distances
    if train_reference is not None:
        train = train_reference.train
    names = _selected(metrics, train is not None, notes)
    engine = get_backend(backend, real, fake, train)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    if train is not None:
        train, _ = check_pair(train, real, "train", "real", device=engine.device)
    n, m = real.shape[0], fake.shape[0]
    if min(n, m) - 1 < k:
        notes.append(f"k-NN metrics skipped: k = {k} needs at least {k + 1} samples in each set (real {n}, fake {m})")
        names = [x for x in names if x not in ("prdc", "precision_recall", "alpha_precision")]
    for name, own_k in _own_neighbours(real.shape[1]).items():  # the k-NN metrics with a k of their own
        if name in names and min(n, m) - 1 < own_k:
            notes.append(f"{name} skipped: its k = {own_k} needs at least {own_k + 1} samples in each set")
            names.remove(name)
    if n != m and any(x in names for x in METRIC_GROUPS["diversity"]):
        notes.append(
            f"diversity compared at equal size: the larger set is subsampled to {min(n, m)} samples "
            "(plug-in Vendi and RKE grow with the sample size)"
        )
    runner = _Runner(engine, real, fake, train, k, kernel, seed, ridge)
    runner.reference, runner.train_reference = reference, train_reference
    runner.names = tuple(names)
    entries = []
    steps = names
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        steps = tqdm(names, desc="genmetrics evaluate", unit="metric")
    for name in steps:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value, parameters = getattr(runner, name)()
            except ValueError as exc:
                if _names_a_setting(exc):
                    raise
                notes.append(f"{name} skipped: {exc}")  # the data do not allow it (e.g. a singular covariance)
                continue
            finally:
                for w in caught:
                    message = f"{name}: {w.message}"
                    if message not in notes:
                        notes.append(message)
        entries.append(MetricEntry(name, GROUP_OF[name], value, parameters, time.perf_counter() - start))
    from .. import __version__  # noqa: PLC0415 (the package imports this module)

    info = dict(
        n_real=int(n),
        n_fake=int(m),
        n_train=None if train is None else int(train.shape[0]),
        d=int(real.shape[1]),
        dtype=str(real.dtype),
        backend=engine.name,
        seed=seed,
        genmetrics=__version__,
    )
    if reference is not None:
        info["reference"] = reference.checksum[:16]
    return Report(tuple(entries), info, tuple(notes))


def _own_neighbours(d: int) -> dict:
    """The neighbourhood sizes of the metrics whose k is their paper's, not evaluate's ``k``: p_precision_recall 4,
    rarity_score 3, top_pr 5 times its projected dimension (min(d, 32))."""
    return {"p_precision_recall": 4, "rarity_score": 3, "top_pr": 5 * min(d, 32)}


def _names_a_setting(exc: Exception) -> bool:
    """Whether an error names one of evaluate()'s arguments or an environment setting (it starts 'name: ...')."""
    named = str(exc).split(":", 1)[0].strip()
    return named in SETTINGS or named.startswith("GENMETRICS_")


class _Runner:
    """The metrics of evaluate(), each returning (value, parameters); shared choices are made once here."""

    def __init__(self, engine, real, fake, train, k, kernel, seed, ridge):
        self.engine, self.real, self.fake, self.train = engine, real, fake, train
        self.k, self.kernel, self.seed, self.ridge = k, kernel, seed, ridge
        self.backend = engine.name
        self._equal = None
        self._bandwidth = None
        self._passes = None
        self.names = ()  # the metrics of this call (set by evaluate)
        self.reference = None  # a genmetrics.Reference given as real: its precomputed quantities are used
        self.train_reference = None

    def equal_size(self):
        """(real, fake) at the same size: the larger one subsampled without replacement (seeded)."""
        if self._equal is None:
            n, m = self.real.shape[0], self.fake.shape[0]
            size = min(n, m)
            rng = np.random.default_rng(self.seed)

            def pick(X):
                if X.shape[0] == size:
                    return X, np.arange(size)
                rows = np.sort(rng.choice(X.shape[0], size, replace=False))
                return X[array_namespace(X).asarray(rows)], rows

            (real, self._real_rows), (fake, self._fake_rows) = pick(self.real), pick(self.fake)
            self._equal = (real, fake)
        return self._equal

    def vendi_bandwidth(self):
        """The Vendi kernel's bandwidth, one for both sets (the real set's median heuristic), or None."""
        from ..engine.kernels import TRANSLATION_INVARIANT  # noqa: PLC0415

        return self.bandwidth() if self.kernel in TRANSLATION_INVARIANT else None

    def bandwidth(self):
        if self._bandwidth is None:
            from ..engine.kernels import median_heuristic_bandwidth  # noqa: PLC0415

            if self.reference is not None and self.engine.device == "host":
                self._bandwidth = self.reference.bandwidth  # the same NumPy computation, done once
            else:
                self._bandwidth = median_heuristic_bandwidth(self.real)
        return self._bandwidth

    def real_score(self, what: str, compute):
        """A score of the real set at its full size: a Reference's (computed once per setting), else computed."""
        if self.reference is None or self.real.shape[0] > self.fake.shape[0]:  # subsampled: depends on the fake
            return compute()
        return self.reference.score(what, compute)

    def real_or_reference(self):
        return self.real if self.reference is None else self.reference

    # -- fidelity and memorisation ---------------------------------------------------------------------------

    def fidelity_passes(self):
        """The k-NN passes prdc, precision_recall and alpha_precision share: one self-k-NN pass per set at the
        largest k (prdc's), and one cross pass serving prdc's balls and alpha-precision's nearest points."""
        if self._passes is None:
            from ..fidelity import SharedPasses  # noqa: PLC0415

            self._passes = SharedPasses(
                self.engine,
                self.real,
                self.fake,
                k_max=self.k,
                nearest_in_prdc="alpha_precision" in self.names,
                reference=self.reference,
            )
        return self._passes

    def prdc(self):
        from ..fidelity import prdc_on  # noqa: PLC0415

        r = prdc_on(self.fidelity_passes(), self.k, inclusive=False)
        return {x: getattr(r, x) for x in ("precision", "recall", "density", "coverage")}, {"k": self.k}

    def precision_recall(self):
        from ..fidelity import precision_recall_on  # noqa: PLC0415

        k = min(3, self.k)
        r = precision_recall_on(self.fidelity_passes(), k)
        return {"precision": r.precision, "recall": r.recall}, {"k": k}

    def alpha_precision(self):
        from ..fidelity import INTEGRATIONS, alpha_precision_on  # noqa: PLC0415

        r = alpha_precision_on(self.fidelity_passes(), n_alphas=30, center=None, integration=INTEGRATIONS[0])
        value = {
            "delta_precision_alpha": r.delta_precision_alpha,
            "delta_coverage_beta": r.delta_coverage_beta,
            "authenticity": r.authenticity,
            "alphas": r.alphas,
            "alpha_precision_curve": r.alpha_precision_curve,
            "beta_coverage_curve": r.beta_coverage_curve,
        }
        against = AUTHENTICITY_AGAINST["alpha_precision.authenticity"]
        return value, {"integration": r.integration, "authenticity_against": against}

    def authenticity(self):
        from ..fidelity import authenticity  # noqa: PLC0415

        train = self.train if self.train_reference is None else self.train_reference
        value = authenticity(train, self.fake, backend=self.backend)
        return value, {"against": AUTHENTICITY_AGAINST["authenticity"]}

    # -- diversity -------------------------------------------------------------------------------------------

    def vendi(self):
        from ..diversity import vendi  # noqa: PLC0415

        real, fake = self.equal_size()
        sigma = self.vendi_bandwidth()
        r = self.real_score(
            f"vendi/{self.backend}/{self.kernel}/{sigma!r}",
            lambda: vendi(real, kernel=self.kernel, bandwidth=sigma, backend=self.backend),
        )
        f = vendi(fake, kernel=self.kernel, bandwidth=sigma, backend=self.backend)
        return {"real": float(r), "fake": float(f)}, {
            "q": 1,
            "kernel": self.kernel,
            "bandwidth": sigma,
            "n": real.shape[0],
            "method": f.method,
        }

    def rke(self):
        from ..diversity import rke  # noqa: PLC0415

        real, fake = self.equal_size()
        sigma = self.bandwidth()
        r = self.real_score(
            f"rke/{self.backend}/{sigma!r}", lambda: rke(real, kernel="rbf", bandwidth=sigma, backend=self.backend)
        )
        f = rke(fake, kernel="rbf", bandwidth=sigma, backend=self.backend)
        return {"real": float(r), "fake": float(f)}, {"kernel": "rbf", "bandwidth": sigma, "n": real.shape[0]}

    def diversity_curve(self):
        from ..curves import diversity_curve  # noqa: PLC0415

        real, fake = self.equal_size()
        curves = {}
        for name, X in (("real", real), ("fake", fake)):
            c = diversity_curve(
                X,
                metric="vendi",
                kernel=self.kernel,
                bandwidth=self.vendi_bandwidth(),
                n_boot=10,
                seed=self.seed,
                backend=self.backend,
            )
            curves[name] = {"sizes": c.sizes, "mean": c.mean, "lower": c.lower, "upper": c.upper}
        return curves, {"metric": "vendi", "kernel": self.kernel, "bandwidth": self.vendi_bandwidth(), "n_boot": 10}

    def diversity_modes(self):
        from ..modes import diversity_modes  # noqa: PLC0415

        real, fake = self.equal_size()
        sigma = self.vendi_bandwidth()
        modes = {}
        for name, X, rows in (("real", real, self._real_rows), ("fake", fake, self._fake_rows)):
            r = diversity_modes(X, kernel=self.kernel, bandwidth=sigma, seed=self.seed, backend=self.backend)
            # indices into the set as given, not into its equal-size subsample
            modes[name] = {"eigenvalues": r.eigenvalues, "indices": rows[r.indices], "method": r.method}
        return modes, {"kernel": self.kernel, "bandwidth": sigma, "n": real.shape[0]}

    # -- distances -------------------------------------------------------------------------------------------

    def fd(self):
        from ..distances import fd  # noqa: PLC0415

        return fd(self.real_or_reference(), self.fake, backend=self.backend), {}

    def kid(self):
        from ..distances import kid  # noqa: PLC0415

        n, m = self.real.shape[0], self.fake.shape[0]
        size = min(1000, n, m)
        # subsets of whole sets are all the same data (the U-statistic ignores order): one is enough, and its
        # std is 0 by construction, not a measured spread
        whole = size == n == m
        r = kid(
            self.real, self.fake, subsets=1 if whole else 100, subset_size=size, seed=self.seed, backend=self.backend
        )
        parameters = {"subsets": 1 if whole else 100, "subset_size": size, "degree": r.degree}
        if whole:
            parameters["std"] = "0 by construction (one subset = the whole sets)"
            warnings.warn(
                f"both sets have {n} samples, no more than the subset size 1000: every subset is the "
                "whole sets, so KID is computed once and kid.std is 0 by construction, not a measured "
                "spread",
                stacklevel=2,
            )
        return {"mean": r.mean, "std": r.std}, parameters

    def cmmd(self):
        from ..distances import mmd  # noqa: PLC0415

        return mmd(self.real, self.fake, preset="cmmd", backend=self.backend), {
            "kernel": "rbf",
            "bandwidth": 10.0,
            "scale": 1000,
            "biased": True,
        }

    def gaussian_kl(self):
        from ..distances import gaussian_kl  # noqa: PLC0415

        # KL(fake || real)
        value = gaussian_kl(self.real_or_reference(), self.fake, ridge=self.ridge, backend=self.backend)
        return value, {"of": "fake", "from": "real", "ridge": self.ridge}

    def knn_kl(self):
        from ..information import knn_kl_divergence  # noqa: PLC0415

        k = 1
        real_fake = knn_kl_divergence(self.real, self.fake, k=k, backend=self.backend)
        fake_real = knn_kl_divergence(self.fake, self.real, k=k, backend=self.backend)
        return {"real_fake": real_fake.value, "fake_real": fake_real.value}, {
            "k": k,
            "real_fake": "KL(real, fake)",
            "fake_real": "KL(fake, real)",
        }

    # -- issue 17's metrics --------------------------------------------------------------------------------

    def p_precision_recall(self):
        from ..fidelity import p_precision_recall  # noqa: PLC0415

        r = p_precision_recall(self.real, self.fake, backend=self.backend)
        return {"precision": r.precision, "recall": r.recall}, {"k": r.k, "a": 1.2}

    def rarity_score(self):
        from ..fidelity import rarity_score  # noqa: PLC0415

        r = rarity_score(self.real, self.fake, backend=self.backend)
        return {"mean": r.mean, "in_manifold": float(np.mean(r.in_manifold))}, {"k": r.k}

    def top_pr(self):
        from ..fidelity import top_pr  # noqa: PLC0415

        r = top_pr(self.real, self.fake, seed=self.seed, backend=self.backend)
        return {"precision": r.precision, "recall": r.recall, "f1": r.f1}, {"alpha": r.alpha, "seed": self.seed}

    def ct_score(self):
        from ..fidelity import ct_score  # noqa: PLC0415

        value = ct_score(self.train, self.real, self.fake, seed=self.seed, backend=self.backend)
        return value, {"train": "train", "test": "real", "seed": self.seed}

    def fls(self):
        from ..distances import fls  # noqa: PLC0415

        value = fls(self.train, self.real, self.fake, seed=self.seed, backend=self.backend)
        return value, {"train": "train", "test": "real", "seed": self.seed}

    def sliced_wasserstein(self):
        from ..distances import sliced_wasserstein  # noqa: PLC0415

        value = sliced_wasserstein(self.real, self.fake, seed=self.seed, backend=self.backend)
        return value, {"projections": 50, "p": 2, "seed": self.seed}

    def fd_infinity(self):
        from ..distances import fd_infinity  # noqa: PLC0415

        value = fd_infinity(self.real, self.fake, seed=self.seed, backend=self.backend)
        return value, {"points": 15, "seed": self.seed}

    def mauve(self):
        from ..frontiers import mauve  # noqa: PLC0415

        r = mauve(self.real, self.fake, seed=self.seed, backend=self.backend)
        return {"mauve": r.mauve, "frontier_integral": r.frontier_integral}, {
            "num_buckets": r.num_buckets,
            "scaling_factor": r.scaling_factor,
            "seed": self.seed,
        }

    def prd_curve(self):
        from ..frontiers import prd_curve  # noqa: PLC0415

        r = prd_curve(self.real, self.fake, seed=self.seed, backend=self.backend)
        return {"f_beta": r.f_beta, "f_beta_inv": r.f_beta_inv}, {
            "beta": r.beta,
            "num_clusters": r.num_clusters,
            "seed": self.seed,
        }
