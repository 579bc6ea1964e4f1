"""Streaming accumulation for evaluation loops: :class:`Accumulator` (``update`` / ``compute`` / ``merge``).

Training and sampling loops produce generated features in batches, possibly on several processes. An
:class:`Accumulator` collects them and computes, at the end, the same :class:`~genmetrics.Report` as
:func:`genmetrics.evaluate` on the concatenation of every batch:

- metrics that need the samples (k-NN, kernels, diversity: everything but "fd" and "gaussian_kl") keep the rows
  in a growable buffer (amortised doubling) that spills to a memory-mapped file past ``max_memory`` bytes, and
  ``compute()`` calls :func:`~genmetrics.evaluate` on them, in update order: numbers identical to ``evaluate``;
- when only "fd" and "gaussian_kl" are asked for, no row is stored: their means and co-moments are streamed in
  float64 (chunks of rows, each centered on its own mean, combined pairwise by Chan, Golub & LeVeque's update),
  which agrees with :func:`~genmetrics.fd` / :func:`~genmetrics.gaussian_kl` on the concatenation to round-off
  (~1e-13 relative, see :class:`Accumulator`), not bit for bit.

Per-process accumulators combine exactly with :meth:`Accumulator.merge` or, under ``torch.distributed``, with
:func:`gather_accumulators` (:meth:`Accumulator.all_gather`).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
import weakref

import numpy as np

from .distances import CHUNK_BYTES, fd_moments, frechet_from_statistics, gaussian_kl_from_moments, singular_error
from .engine import backends, get_backend
from .engine.kernels import power_of_two_scale
from .reference import as_reference
from .report.evaluate import GROUP_OF, METRIC_GROUPS, METRICS, STANDARD, MetricEntry, Report, evaluate
from .support.arrays import is_device_array, to_host
from .support.results import Score
from .support.validation import (
    check_bool,
    check_choice,
    check_embeddings,
    check_int,
    check_kernel,
    check_nonnegative,
    plain_input,
)

__all__ = ["Accumulator", "gather_accumulators", "MOMENT_METRICS"]

#: The metrics computed from means and covariances alone: when only these are selected, no row is stored.
MOMENT_METRICS = frozenset({"fd", "gaussian_kl"})

#: What :meth:`Accumulator.state_dict` writes in ``"format"``, and its version.
STATE_FORMAT = "genmetrics.Accumulator"
STATE_VERSION = 1

#: Rows of one buffer start with room for this many rows at least (then the capacity doubles).
MIN_CAPACITY = 16


# ----------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------


def _selected(metrics) -> tuple:
    """The metric names ``metrics`` asks for ("standard", "all", groups, names, alone or in a list), each once, in
    order."""
    if not isinstance(metrics, (str, list, tuple)):
        raise TypeError(
            f"metrics: expected 'standard', 'all', a group or metric name, or a list of them, got "
            f"{type(metrics).__name__}"
        )
    names: list = []
    for item in [metrics] if isinstance(metrics, str) else list(metrics):
        check_choice(item, "metrics", METRICS + tuple(METRIC_GROUPS) + ("all", "standard"))
        names.extend({"all": METRICS, "standard": STANDARD}.get(item, METRIC_GROUPS.get(item, (item,))))
    return tuple(dict.fromkeys(names))


def _is_array_like(x) -> bool:
    return (
        isinstance(x, (np.ndarray, list, tuple))
        or hasattr(x, "__array__")
        or hasattr(x, "__array_interface__")
        or hasattr(x, "__dlpack__")
        or is_device_array(x)
    )


def _real_rows(reference):
    """The real set of ``reference``: the array itself, or ``reference.real`` (a :class:`genmetrics.Reference`)."""
    if _is_array_like(reference) or not hasattr(reference, "real"):
        return reference
    return reference.real


def _width(reference):
    """The feature count of ``reference`` (an array or an object with ``.real``), or None when it has no 2-D shape."""
    shape = getattr(_real_rows(reference), "shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 2 else None


def _host_rows(batch, name: str):
    """(rows as a C-contiguous float32/float64 host array, validated; the dtype it came in, as a string).

    torch tensors are detached and copied to the host; float16 and bfloat16 become float32 (NumPy has no
    bfloat16). CuPy and other GPU arrays are copied to the host. Then :func:`check_embeddings`: float16 becomes
    float32, integers and bool float64; NaN/inf, empty and non-2-D batches are errors naming ``name``.
    """
    batch = plain_input(batch, name)
    if type(batch).__module__.split(".")[0] == "torch" and callable(getattr(batch, "detach", None)):
        given = str(batch.dtype).replace("torch.", "")
        tensor = batch.detach()
        if given in ("float16", "bfloat16"):
            tensor = tensor.float()
        batch = tensor.cpu().numpy()
    else:
        given = str(getattr(batch, "dtype", "unknown"))
        if is_device_array(batch):
            batch = to_host(batch)
    return check_embeddings(batch, name), given


def _check_optional_int(value, name: str):
    return None if value is None else check_int(value, name, low=0)


# ----------------------------------------------------------------------------------------------------------
# A growable buffer of rows that spills to a memory-mapped file
# ----------------------------------------------------------------------------------------------------------


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:  # already gone (deleted behind our back, or removed by reset)
        pass


class _RowBuffer:
    """Rows (n, d) of one dtype, appended with amortised doubling; in memory up to ``max_memory`` bytes of capacity,
    then in a raw memory-mapped file in ``spill_dir`` (grown in place: the file is extended, never copied)."""

    def __init__(self, d: int, dtype, max_memory=None, spill_dir=None):
        self.d, self.dtype = d, np.dtype(dtype)
        self.max_memory, self.spill_dir = max_memory, spill_dir
        self.n = 0
        self.data = np.empty((0, d), dtype=self.dtype)
        self.path: str | None = None
        self._identity: tuple | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def row_bytes(self) -> int:
        return self.d * self.dtype.itemsize

    def check(self) -> None:
        """A spilled buffer's file must still be ours, whole: a named error otherwise (never a partial result)."""
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._identity:
            raise FileNotFoundError(
                f"spill_dir: the spill file {self.path} holding {self.n} accumulated rows was deleted or replaced; "
                "the accumulated rows are lost (reset() and accumulate again, with a spill_dir nothing cleans)"
            )
        if st.st_size < self.n * self.row_bytes:
            raise FileNotFoundError(
                f"spill_dir: the spill file {self.path} was truncated to {st.st_size} bytes but holds "
                f"{self.n} rows ({self.n * self.row_bytes} bytes); the accumulated rows are lost"
            )

    def rows(self):
        """The rows so far, a view (of the file when spilled); checked first."""
        self.check()
        return self.data[: self.n]

    def append(self, rows) -> None:
        self.check()
        need = self.n + rows.shape[0]
        if need > self.data.shape[0]:
            self._grow(need)
        self.data[self.n : need] = rows
        self.n = need

    def _grow(self, need: int) -> None:
        capacity = max(need, 2 * self.data.shape[0], MIN_CAPACITY)
        nbytes = capacity * self.row_bytes
        if self.path is None and (self.max_memory is None or nbytes <= self.max_memory):
            grown = np.empty((capacity, self.d), dtype=self.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
            return
        old = self.data[: self.n]
        first = self.path is None
        if first:
            fd, path = tempfile.mkstemp(prefix="genmetrics-accumulate-", suffix=".rows", dir=self.spill_dir)
            os.close(fd)
            self.path = path
            self._finalizer = weakref.finalize(self, _remove, path)
            st = os.stat(path)
            self._identity = (st.st_dev, st.st_ino)
        target = self.path
        assert target is not None
        with open(target, "r+b") as fh:
            fh.truncate(nbytes)  # sparse: disk is used as rows are written
        grown = np.memmap(target, dtype=self.dtype, mode="r+", shape=(capacity, self.d))
        if first:
            grown[: self.n] = old
        self.data = grown

    def close(self) -> None:
        """Drop the rows and remove the spill file."""
        self.data = np.empty((0, self.d), dtype=self.dtype)
        self.n = 0
        if self._finalizer is not None:
            self._finalizer()
        self.path, self._identity, self._finalizer = None, None, None


# ----------------------------------------------------------------------------------------------------------
# Streamed float64 moments
# ----------------------------------------------------------------------------------------------------------


class _Moments:
    """The mean and co-moment sum (x - mean)(x - mean)^T of rows seen so far, in float64, without the rows.

    Rows are collected into chunks of ``CHUNK_BYTES`` of float64 (as :func:`genmetrics.fd`'s passes); a full chunk
    is folded in: its own mean, its rows centered by it with the corrected two-pass formula (the rounding of that
    mean removed: sum z z^T - b r r^T, r the mean of the centered rows), then Chan, Golub & LeVeque's pairwise
    update with the state so far (n = n_a + n_b, delta = mean_b - mean_a, M = M_a + M_b + delta delta^T n_a n_b / n).
    Chunk boundaries fall at fixed row counts, so the state depends on the rows and their order, not on how they
    were batched.
    """

    def __init__(self, d: int, engine):
        self.d, self.engine = d, engine
        self.chunk_rows = max(1, CHUNK_BYTES // (8 * d))
        self.n = 0
        self.mean = np.zeros(d)
        self.comoment = np.zeros((d, d))
        self.pending: list = []
        self.n_pending = 0

    def update(self, rows) -> None:
        start = 0
        while start < rows.shape[0]:
            take = min(self.chunk_rows - self.n_pending, rows.shape[0] - start)
            self.pending.append(np.array(rows[start : start + take], dtype=np.float64))
            self.n_pending += take
            start += take
            if self.n_pending == self.chunk_rows:
                self._fold_pending()

    def pending_rows(self):
        if not self.pending:
            return np.zeros((0, self.d))
        return np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]

    def _fold_pending(self) -> None:
        chunk = self.pending_rows()
        self.pending, self.n_pending = [], 0
        self.combine(*self._chunk_moments(chunk))

    def _chunk_moments(self, C):
        b = C.shape[0]
        mean = C.sum(axis=0) / b
        Z = C - mean
        residual = Z.sum(axis=0) / b
        comoment = self.engine.column_gram(np.ascontiguousarray(Z)) - b * np.outer(residual, residual)
        return b, mean + residual, comoment

    def combine(self, n_b: int, mean_b, comoment_b) -> None:
        """Fold in the moments of n_b other rows (Chan et al.'s pairwise update)."""
        if n_b == 0:
            return
        n_a, n = self.n, self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.comoment = self.comoment + comoment_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.n = n

    def totals(self):
        """(n, mean, co-moment) of every row so far, the pending ones folded into a copy: the state is not changed."""
        if not self.n_pending:
            return self.n, self.mean, self.comoment
        total = _Moments(self.d, self.engine)
        total.n, total.mean, total.comoment = self.n, self.mean, self.comoment
        total.combine(*self._chunk_moments(self.pending_rows()))
        return total.n, total.mean, total.comoment

    def merge(self, other: _Moments) -> None:
        """All rows of ``other`` after this one's (the pending rows of both folded in first)."""
        if self.n_pending:
            self._fold_pending()
        self.combine(*other.totals())

    def result(self, name: str):
        """(n, mean, unbiased covariance) of every row so far, pending ones included; the state is not changed."""
        n, mean, comoment = self.totals()
        if n < 2:
            raise ValueError(f"{name}: needs at least 2 rows for a covariance, got {n}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(comoment))):
            raise ValueError(
                f"{name}: its streamed float64 moments overflow (|values| above ~1e150); rescale the embeddings"
            )
        cov = comoment / (n - 1)
        return n, mean, (cov + cov.T) / 2


def _gaussian_kl_from_moments(mu_q, sigma_q, mu_p, sigma_p, ridge: float, m: int, n: int) -> float:
    """KL(N(mu_p, sigma_p) || N(mu_q, sigma_q)) (p: fake of m rows, q: real of n rows) by
    :func:`genmetrics.distances.gaussian_kl_from_moments`, on moments brought near 1 by a power of two (exact)."""
    d = mu_p.shape[0]
    for name, rows in (("fake", m), ("real", n)):
        if ridge == 0 and rows <= d:
            raise singular_error(name, rows, d, None, ridge, 1.0)
    scale = power_of_two_scale(mu_p, mu_q, np.sqrt(np.abs(sigma_p)), np.sqrt(np.abs(sigma_q)))
    return gaussian_kl_from_moments(
        mu_p * scale,
        sigma_p * scale * scale,
        mu_q * scale,
        sigma_q * scale * scale,
        ridge=ridge,
        scale=scale,
        n_p=m,
        n_q=n,
    )


# ----------------------------------------------------------------------------------------------------------
# The accumulator
# ----------------------------------------------------------------------------------------------------------


class Accumulator:
    r"""Generated samples collected batch by batch; :meth:`compute` gives :func:`genmetrics.evaluate`'s report.

    A metric as states with ``update`` / ``compute`` / ``merge`` (as torchmetrics' metrics): call :meth:`update`
    with each batch of generated embeddings, :meth:`compute` at the end. Per-process accumulators combine with
    :meth:`merge`, :meth:`state_dict` / :meth:`load_state_dict`, or :meth:`all_gather` under ``torch.distributed``.

    Parameters
    ----------
    reference : array (n, d) or Reference, optional, default None
        The real set, passed as is to :func:`genmetrics.evaluate` as its first argument (an object with the real
        rows at ``.real``, such as a precomputed :class:`genmetrics.Reference`, goes through unchanged). None: give
        it to :meth:`compute` instead.
    train : array (t, d), optional, default None
        The training set, for authenticity (evaluate's ``train``).
    metrics : str or list of str, default "standard"
        As :func:`genmetrics.evaluate`'s. When it selects only "fd" and "gaussian_kl" (:data:`MOMENT_METRICS`),
        no row is stored: float64 means and co-moments are streamed (see the Notes).
    k : int, default 5
        evaluate's ``k``.
    kernel : str, default "cosine"
        evaluate's ``kernel``.
    seed : int, default 0
        evaluate's ``seed``.
    ridge : float >= 0, default 0.0
        evaluate's ``ridge`` (Gaussian KL).
    progress : bool, default False
        evaluate's ``progress``.
    keep_rows : bool, optional, default None
        Store the rows even when only moments are needed (True: ``compute`` then calls evaluate, so FD and KL are
        bit-identical to it); None: only when a selected metric needs them. False with a metric that needs the
        rows is a ValueError.
    max_memory : int, optional, default None
        Bytes of rows to hold in memory; past it the buffer moves to a memory-mapped file (None: no limit).
    spill_dir : str or path, optional, default None
        Directory of that file (None: the system's temporary directory). The file is removed by :meth:`reset`
        and when the accumulator is garbage-collected.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        evaluate's ``backend``. Streamed moments are accumulated on the host.

    Notes
    -----
    Batches: NumPy, CuPy or torch tensors of any number of rows (torch tensors are detached and copied to the
    host, CuPy arrays copied to the host; float16 and bfloat16 become float32, integers and bool float64, as
    evaluate converts them). Every batch must have the width of the first (and of ``reference``) and the same
    stored dtype (float32 or float64): a ValueError naming ``fake_batch`` otherwise, since evaluate would
    otherwise see another array than the concatenation.

    Stored rows (any metric but FD and KL): ``compute()`` is ``evaluate(reference, rows, train, ...)`` with the
    rows in update order, so its numbers are those of evaluate on the concatenation, bit for bit. The buffer
    doubles its capacity as it grows (amortised O(1) per row); once its capacity would pass ``max_memory`` bytes it
    moves to a raw memory-mapped file that later growth extends in place, so 10^6 x 2,048 float32 rows (8 GB)
    accumulate on a machine with less memory; evaluate then reads them from the page cache. A spill file deleted
    or truncated behind the accumulator's back is a FileNotFoundError naming ``spill_dir`` at the next
    ``update``/``compute``, never a partial result.

    Streamed moments (only FD and KL): rows are gathered into chunks of 64 MiB of float64 (as :func:`~genmetrics.fd`
    passes over them; the rows of an unfinished chunk are the only ones held), each chunk centered on its own mean
    (the two-pass correction of its rounding included) and combined pairwise in float64 (Chan, Golub & LeVeque
    1983). The state depends on the rows and their order, not on the batch sizes. The real side is
    :func:`~genmetrics.distances.fd_moments` of the real set, as ``gm.fd`` computes it (a Reference's cached
    moments when one is given). FD comes from :func:`~genmetrics.frechet_from_statistics` (singular products by
    its factor route, within ~1e-12 of fd's QR route; ``keep_rows=True`` for fd itself) and the KL from the same
    closed form as :func:`~genmetrics.gaussian_kl`. Against ``gm.fd`` / ``gm.gaussian_kl`` on the concatenation,
    measured over d = 16 to 256, up to 50,000 rows, means up to 1e4 and chunk boundaries inside batches: relative
    differences of 0 to 1.5e-16 (summation order), not bit-identical by construction; tests/test_accumulate.py
    checks 1e-12.

    Order: :meth:`merge` appends the other accumulator's rows after this one's. The metrics are invariant to the
    order of the generated rows except where the seed draws rows by index: KID's subsets (unless both sets have
    the same size of at most 1,000), the equal-size subsample of the larger set for vendi / rke /
    diversity_curve, and diversity_curve's bootstrap. Those change with the order (their distribution does not);
    the rest (PRDC, precision/recall, alpha-precision, authenticity, knn_kl, FD, KL, CMMD) are order-invariant up
    to the rounding of sums (counts, such as PRDC's, exactly).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(200, 16))
    >>> fake = np.random.default_rng(1).normal(size=(150, 16)) + 0.5
    >>> acc = gm.Accumulator(real, metrics=["prdc", "fd"])
    >>> for batch in np.array_split(fake, 7):
    ...     acc.update(batch)
    >>> report = acc.compute()
    >>> print(f"{report['fd']:.3f}", len(acc))
    5.201 150
    >>> report.numbers() == gm.evaluate(real, fake, metrics=["prdc", "fd"]).numbers()
    True
    >>> streamed = gm.Accumulator(real, metrics="fd")  # moments only: no row is stored
    >>> for batch in np.array_split(fake, 7):
    ...     streamed.update(batch)
    >>> abs(streamed.compute()["fd"] - gm.fd(real, fake)) < 1e-12
    True
    """

    def __init__(
        self,
        reference=None,
        train=None,
        *,
        metrics="standard",
        k=5,
        kernel="cosine",
        seed=0,
        ridge=0.0,
        progress=False,
        keep_rows=None,
        max_memory=None,
        spill_dir=None,
        backend=None,
    ):
        self.names = _selected(metrics)
        self.metrics = metrics
        self.k = check_int(k, "k", low=1)
        self.kernel = check_kernel(kernel)
        self.seed = check_int(seed, "seed", low=0)
        self.ridge = check_nonnegative(ridge, "ridge")
        self.progress = check_bool(progress, "progress")
        moments_only = set(self.names) <= MOMENT_METRICS
        if keep_rows is None:
            keep_rows = not moments_only
        keep_rows = check_bool(keep_rows, "keep_rows")
        if not keep_rows and not moments_only:
            needing = ", ".join(x for x in self.names if x not in MOMENT_METRICS)
            raise ValueError(f"keep_rows: False, but {needing} need the rows (only fd and gaussian_kl do not)")
        self.keep_rows = keep_rows
        self.max_memory = _check_optional_int(max_memory, "max_memory")
        if spill_dir is not None:
            spill_dir = os.fspath(spill_dir)
            if not os.path.isdir(spill_dir):
                raise ValueError(f"spill_dir: {spill_dir!r} is not a directory")
        self.spill_dir = spill_dir
        self.engine = get_backend(backend)  # a bad backend is an error now, not at compute()
        self.backend = backend
        self.reference, self.train = reference, train
        self._buffer: _RowBuffer | None = None
        self._moments: _Moments | None = None
        self.width: int | None = None
        self.dtype: np.dtype | None = None

    # -- the state -------------------------------------------------------------------------------------------

    @property
    def settings(self) -> dict:
        """What determines the numbers (checked by :meth:`merge` and :meth:`load_state_dict`)."""
        return {
            "metrics": list(self.names),
            "k": self.k,
            "kernel": self.kernel,
            "seed": self.seed,
            "ridge": self.ridge,
            "keep_rows": self.keep_rows,
        }

    def __len__(self) -> int:
        if self._buffer is not None:
            return self._buffer.n
        if self._moments is not None:
            return self._moments.n + self._moments.n_pending
        return 0

    @property
    def spill_path(self) -> str | None:
        """The memory-mapped file holding the rows, or None while they are in memory."""
        return None if self._buffer is None else self._buffer.path

    def _moment_engine(self):
        if self.engine.device != "gpu":
            return self.engine
        return get_backend("cpu" if backends()["cpu"][0] else "numpy")

    def _check_batch(self, rows, given: str, name: str) -> None:
        expected = self.width if self.width is not None else _width(self.reference)
        if expected is not None and rows.shape[1] != expected:
            against = "earlier batches have" if self.width is not None else "reference has"
            raise ValueError(
                f"{name}: has {rows.shape[1]} features but {against} {expected}; every batch must be embedded alike"
            )
        if self.dtype is not None and rows.dtype != self.dtype:
            raise ValueError(
                f"{name}: dtype {given} is stored as {rows.dtype}, but earlier batches are stored as {self.dtype} "
                f"(float16/bfloat16/float32 as float32; float64, integers and bool as float64); cast the batch to "
                f"{self.dtype}, or accumulate {rows.dtype} from the start"
            )

    def _append(self, rows) -> None:
        if self.width is None:
            self.width, self.dtype = rows.shape[1], rows.dtype
            if self.keep_rows:
                self._buffer = _RowBuffer(self.width, self.dtype, self.max_memory, self.spill_dir)
            else:
                self._moments = _Moments(self.width, self._moment_engine())
        if self._buffer is not None:
            self._buffer.append(rows)
        elif self._moments is not None:
            self._moments.update(rows)

    def update(self, fake_batch) -> None:
        """Append a batch of generated embeddings (rows), after the rows so far.

        Parameters
        ----------
        fake_batch : array (b, d)
            NumPy, CuPy or torch; any b >= 1. Same width and stored dtype as earlier batches (class Notes).
        """
        rows, given = _host_rows(fake_batch, "fake_batch")
        self._check_batch(rows, given, "fake_batch")
        if self._buffer is not None:
            self._buffer.check()
        self._append(rows)

    def rows(self):
        """The stored rows in update order, a read-only view (of the spill file when spilled); None when only
        moments are kept."""
        if self._buffer is None:
            return None if self.keep_rows is False else np.zeros((0, self.width or 0))
        view = self._buffer.rows().view(np.ndarray)
        view.flags.writeable = False
        return view

    def reset(self) -> None:
        """Forget every row (the spill file is removed); the settings stay."""
        if self._buffer is not None:
            self._buffer.close()
        self._buffer, self._moments = None, None
        self.width, self.dtype = None, None

    def _check_compatible(self, settings: dict, width, dtype, name: str) -> None:
        mine = self.settings
        differ = [
            f"{key}={settings.get(key)!r} there, {value!r} here"
            for key, value in mine.items()
            if settings.get(key) != value
        ]
        if differ:
            raise ValueError(
                f"{name}: accumulated with other settings ({'; '.join(differ)}); "
                "construct the Accumulator with the same metrics, k, kernel, seed, ridge and keep_rows"
            )
        if width is None:
            return
        expected = self.width if self.width is not None else _width(self.reference)
        if expected is not None and width != expected:
            against = "this accumulator's rows have" if self.width is not None else "reference has"
            raise ValueError(f"{name}: its rows have {width} features but {against} {expected}")
        if self.dtype is not None and dtype is not None and np.dtype(dtype) != self.dtype:
            raise ValueError(f"{name}: its rows are stored as {np.dtype(dtype)} but this accumulator's as {self.dtype}")

    def merge(self, other: Accumulator) -> Accumulator:
        """Append ``other``'s rows after this one's (``other`` is not changed); returns this accumulator.

        Stored rows are concatenated: the result is the accumulator that was updated with this one's batches, then
        ``other``'s. Streamed moments are combined by Chan et al.'s pairwise update (agreement to round-off). See
        the class Notes for which metrics depend on the order.

        Parameters
        ----------
        other : Accumulator
            With the same settings (metrics, k, kernel, seed, ridge, keep_rows) and width: a ValueError naming
            ``other`` otherwise.
        """
        if not isinstance(other, Accumulator):
            raise TypeError(f"other: expected an Accumulator, got {type(other).__name__}")
        self._check_compatible(other.settings, other.width, other.dtype, "other")
        if other._buffer is not None:
            self._append(other._buffer.rows())
        elif other._moments is not None:
            if self._moments is None:
                self.width, self.dtype = other.width, other.dtype
                self._moments = _Moments(other._moments.d, self._moment_engine())
            self._moments.merge(other._moments)
        return self

    def state_dict(self) -> dict:
        """The state as a plain dict of arrays and settings (for ``torch.save``, pickling, or sending elsewhere).

        Keys: ``format``, ``version``, ``settings`` (:attr:`settings`), ``width``, ``dtype``, ``n`` (rows seen),
        ``rows`` (the stored rows, a read-only view: of the spill file when spilled, so copy it before
        :meth:`reset`; with streamed moments, the rows not yet folded into them), ``moment_n``, ``moment_mean``,
        ``moment_comoment`` (streamed moments; None when rows are stored).
        """
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "settings": self.settings,
            "width": self.width,
            "dtype": None if self.dtype is None else str(self.dtype),
            "n": len(self),
            "rows": None,
            "moment_n": None,
            "moment_mean": None,
            "moment_comoment": None,
        }
        if self._buffer is not None:
            state["rows"] = self.rows()
        elif self._moments is not None:
            state["rows"] = self._moments.pending_rows().astype(self.dtype)
            state["moment_n"] = self._moments.n
            state["moment_mean"] = self._moments.mean.copy()
            state["moment_comoment"] = self._moments.comoment.copy()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Replace this accumulator's rows by those of a :meth:`state_dict` (copied; spilled past ``max_memory``).

        Parameters
        ----------
        state_dict : dict
            From :meth:`state_dict` of an accumulator with the same settings (and width, when this one has a
            reference): a ValueError naming ``state_dict`` otherwise.
        """
        if not isinstance(state_dict, dict) or state_dict.get("format") != STATE_FORMAT:
            raise ValueError(f"state_dict: not an Accumulator state (expected format {STATE_FORMAT!r})")
        if state_dict.get("version") != STATE_VERSION:
            raise ValueError(
                f"state_dict: format version {state_dict.get('version')!r}; this genmetrics reads {STATE_VERSION}"
            )
        width, dtype = state_dict.get("width"), state_dict.get("dtype")
        self.reset()
        self._check_compatible(dict(state_dict.get("settings") or {}), width, dtype, "state_dict")
        if width is None:
            return
        rows = np.asarray(to_host(state_dict["rows"]), dtype=dtype)
        if rows.ndim != 2 or rows.shape[1] != width:
            raise ValueError(f"state_dict: rows of shape {rows.shape} for width {width}")
        self.width, self.dtype = int(width), np.dtype(dtype)
        if self.keep_rows:
            self._buffer = _RowBuffer(self.width, self.dtype, self.max_memory, self.spill_dir)
            self._buffer.append(rows)
        else:
            self._moments = _Moments(self.width, self._moment_engine())
            mean = np.asarray(to_host(state_dict["moment_mean"]), dtype=np.float64)
            comoment = np.asarray(to_host(state_dict["moment_comoment"]), dtype=np.float64)
            if mean.shape != (self.width,) or comoment.shape != (self.width, self.width):
                raise ValueError(f"state_dict: moments of shapes {mean.shape}, {comoment.shape} for width {width}")
            self._moments.n = int(state_dict["moment_n"])
            self._moments.mean, self._moments.comoment = mean, comoment
            self._moments.update(rows)
        if len(self) != state_dict.get("n"):
            raise ValueError(f"state_dict: says n = {state_dict.get('n')} but holds {len(self)} rows")

    def all_gather(self, group=None) -> Accumulator:
        """Every rank's rows, in rank order, in every rank's accumulator (``torch.distributed``); returns self.

        :func:`gather_accumulators` (``self``, ``group``).

        Parameters
        ----------
        group : torch.distributed.ProcessGroup, optional, default None
            The group (None: the default group).
        """
        return gather_accumulators(self, group=group)

    # -- the report ------------------------------------------------------------------------------------------

    def compute(self, reference=None, train=None) -> Report:
        """The :class:`~genmetrics.Report` of :func:`genmetrics.evaluate` on the reference and the rows so far.

        Parameters
        ----------
        reference : array (n, d) or Reference, optional, default None
            The real set, in place of the constructor's (one of the two is needed).
        train : array (t, d), optional, default None
            The training set, in place of the constructor's.

        Returns
        -------
        Report
            With stored rows, ``evaluate(reference, rows, train, metrics=..., ...)`` itself; with streamed moments,
            the same entries, parameters, info and notes, from the moments (see the class Notes).
        """
        reference = self.reference if reference is None else reference
        train = self.train if train is None else train
        if reference is None:
            raise ValueError("reference: no real set; pass it to Accumulator(...) or to compute()")
        if len(self) == 0:
            raise ValueError("fake: no rows accumulated yet; call update() with batches first")
        options = dict(metrics=self.metrics, k=self.k, kernel=self.kernel, seed=self.seed, ridge=self.ridge)
        if self._buffer is not None:
            return evaluate(reference, self.rows(), train, **options, progress=self.progress, backend=self.backend)
        assert self._moments is not None
        return self._compute_from_moments(reference, train)

    def _compute_from_moments(self, reference, train) -> Report:
        assert self._moments is not None and self.dtype is not None
        engine, accumulated = self._moment_engine(), self._moments
        real = check_embeddings(to_host(plain_input(_real_rows(reference), "real")), "real")
        if real.shape[1] != self.width:
            raise ValueError(
                f"fake: has {self.width} features but real has {real.shape[1]}; both sets must be embedded alike"
            )
        known = as_reference(reference)
        if train is None and known is not None:
            train = known.train  # as evaluate takes a Reference's training set
        if train is not None:
            train = check_embeddings(to_host(plain_input(train, "train")), "train")
        n, m = real.shape[0], len(self)
        notes: list[str] = []
        if min(n, m) - 1 < self.k:  # as evaluate says it
            notes.append(
                f"k-NN metrics skipped: k = {self.k} needs at least {self.k + 1} samples in each set "
                f"(real {n}, fake {m})"
            )
        moments: dict = {}

        def statistics():
            if not moments:
                fake = accumulated.result("fake")
                if n < 2:
                    raise ValueError(f"real: needs at least 2 rows for a covariance, got {n}")
                # the real side as gm.fd computes it (two passes; a Reference's, cached): only the fake side streams
                mean, cov = known.moments(engine, 1.0, fd_moments) if known is not None else fd_moments(engine, real)
                moments.update(real=(n, mean, cov), fake=fake)
            return moments["real"], moments["fake"]

        def fd():
            (_, mu1, sigma1), (_, mu2, sigma2) = statistics()
            value = frechet_from_statistics(mu1, sigma1, mu2, sigma2)
            return Score(float(value), metric="fd", method="moments", backend=engine.name, n=n, m=m), {}

        def gaussian_kl():
            (_, mu_q, sigma_q), (_, mu_p, sigma_p) = statistics()
            value = _gaussian_kl_from_moments(mu_q, sigma_q, mu_p, sigma_p, self.ridge, m, n)
            score = Score(value, metric="gaussian_kl", backend=engine.name, n=n, m=m, details={"ridge": self.ridge})
            return score, {"of": "fake", "from": "real", "ridge": self.ridge}

        entries = []
        for name in self.names:
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    value, parameters = (fd if name == "fd" else gaussian_kl)()
                except ValueError as exc:
                    if str(exc).startswith("ridge:"):
                        raise
                    notes.append(f"{name} skipped: {exc}")
                    continue
                finally:
                    notes.extend(m for m in (f"{name}: {w.message}" for w in caught) if m not in notes)
            entries.append(MetricEntry(name, GROUP_OF[name], value, parameters, time.perf_counter() - start))
        from . import __version__  # noqa: PLC0415 (the package imports this module)

        wider = max(real.dtype, self.dtype, key=lambda t: t.itemsize)
        info = dict(
            n_real=int(n),
            n_fake=int(m),
            n_train=None if train is None else int(train.shape[0]),
            d=int(self.width),  # type: ignore[arg-type]
            dtype=str(wider),
            backend=engine.name,
            seed=self.seed,
            genmetrics=__version__,
        )
        return Report(tuple(entries), info, tuple(notes))


# ----------------------------------------------------------------------------------------------------------
# torch.distributed
# ----------------------------------------------------------------------------------------------------------


def gather_accumulators(acc: Accumulator, *, group=None) -> Accumulator:
    """All ranks' rows, in rank order, in every rank's ``acc`` (a collective: every rank of ``group`` calls it).

    First every rank's settings, width, dtype and row count are all-gathered (a rank whose settings or width
    differ is a ValueError naming ``group`` on every rank, so none is left waiting). Then each rank's rows are
    broadcast from it in chunks of at most 64 MiB, every rank appending them to a new buffer (spilled past
    ``max_memory`` as :meth:`Accumulator.update` does): exactly each rank's rows, no padding sent or kept, and
    memory beyond the buffers O(chunk). Streamed moments are all-gathered (n, mean, co-moment: fixed size) with
    their unfolded rows, and merged in rank order. Tensors go through the group's device: CUDA for NCCL (the
    current device), the host otherwise.

    Parameters
    ----------
    acc : Accumulator
        This rank's accumulator; replaced by the gathered one (same object).
    group : torch.distributed.ProcessGroup, optional, default None
        The group (None: the default group).

    Returns
    -------
    Accumulator
        ``acc``.
    """
    import torch  # noqa: PLC0415 (optional dependency: the `torch` extra)
    import torch.distributed as dist  # noqa: PLC0415

    if not isinstance(acc, Accumulator):
        raise TypeError(f"acc: expected an Accumulator, got {type(acc).__name__}")
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError("group: torch.distributed is not initialised (call torch.distributed.init_process_group)")
    world = dist.get_world_size(group)
    device = torch.device("cpu")
    if dist.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    mine: dict = {"settings": acc.settings, "width": acc.width, "dtype": None if acc.dtype is None else str(acc.dtype)}
    if acc._buffer is not None:
        mine["rows"] = acc._buffer.n
    elif acc._moments is not None:
        mine["rows"] = acc._moments.n_pending
    else:
        mine["rows"] = 0
    everyone: list = [None] * world
    dist.all_gather_object(everyone, mine, group=group)
    first = everyone[0]["settings"]
    for rank, theirs in enumerate(everyone):
        settings = theirs["settings"]
        differ = [
            f"{key}={settings[key]!r} there, {value!r} on rank 0"
            for key, value in first.items()
            if settings[key] != value
        ]
        if differ:  # every rank sees the same list, so every rank raises
            raise ValueError(f"group: rank {rank}'s Accumulator has other settings than rank 0's ({'; '.join(differ)})")
    filled = [x for x in everyone if x["width"] is not None]
    if not filled:
        return acc
    width, dtype = filled[0]["width"], np.dtype(filled[0]["dtype"])
    if any(x["width"] != width or np.dtype(x["dtype"]) != dtype for x in filled):
        shapes = ", ".join(f"rank {r}: {x['width']} features, {x['dtype']}" for r, x in enumerate(everyone))
        raise ValueError(f"group: the ranks accumulated rows of different widths or dtypes ({shapes})")
    acc._check_compatible(mine["settings"], width, dtype, "group")
    torch_dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[dtype]
    source = np.zeros((0, width), dtype=dtype)  # this rank's rows to send (none on an empty rank)
    if acc._buffer is not None:
        source = acc._buffer.rows()
    elif acc._moments is not None:
        source = acc._moments.pending_rows().astype(dtype)
    chunk = max(1, CHUNK_BYTES // (width * dtype.itemsize))

    def rows_of(rank: int):
        """Rank ``rank``'s rows, chunk by chunk, on every rank (broadcast from it)."""
        src = rank if group is None else dist.get_global_rank(group, rank)
        for start in range(0, everyone[rank]["rows"], chunk):
            size = min(chunk, everyone[rank]["rows"] - start)
            if rank == dist.get_rank(group):
                tensor = torch.from_numpy(np.ascontiguousarray(source[start : start + size])).to(device)
            else:
                tensor = torch.empty((size, width), dtype=torch_dtype, device=device)
            dist.broadcast(tensor, src=src, group=group)
            yield tensor.cpu().numpy()

    if acc.keep_rows:
        gathered = _RowBuffer(width, dtype, acc.max_memory, acc.spill_dir)
        for rank in range(world):
            for block in rows_of(rank):
                gathered.append(block)
        acc.reset()
        acc.width, acc.dtype, acc._buffer = width, dtype, gathered
        return acc
    engine = acc._moment_engine()
    state = torch.zeros(1 + width + width * width, dtype=torch.float64)
    if acc._moments is not None:
        state[0] = acc._moments.n
        state[1 : 1 + width] = torch.from_numpy(acc._moments.mean)
        state[1 + width :] = torch.from_numpy(acc._moments.comoment.reshape(-1))
    states = [torch.empty_like(state, device=device) for _ in range(world)]
    dist.all_gather(states, state.to(device), group=group)
    total = _Moments(width, engine)
    for rank in range(world):
        part = _Moments(width, engine)
        values = states[rank].cpu().numpy()
        part.n, part.mean = int(values[0]), values[1 : 1 + width].copy()
        part.comoment = values[1 + width :].reshape(width, width).copy()
        for block in rows_of(rank):
            part.update(block)
        total.merge(part)
    acc.reset()
    acc.width, acc.dtype, acc._moments = width, dtype, total
    return acc
