"""Reference sets for benchmark suites: the real side of every evaluation, computed once, saved, reloaded.

A benchmark scores tens of models (or checkpoints) against one real set. Everything the metrics need from the
real (and training) side alone is the same in every one of those evaluations: the real set's k-nearest-neighbour
distances (PRDC, improved precision/recall, alpha-precision), the training set's nearest-other distances
(authenticity), the real mean and covariance (FD, Gaussian KL), the median-heuristic bandwidth (RKE, rbf Vendi)
and the real set's own diversity. :class:`Reference` holds the real set with those quantities; every metric that
takes ``real`` takes a Reference in its place (it behaves as the real array, ``np.asarray(ref)``), and the ones
that can use the precomputed quantities do, with numbers identical to the direct call.

What is reused, and where:

=============================  ===========================================================================
real k-NN distances            :func:`genmetrics.prdc`, :func:`genmetrics.precision_recall`,
(up to ``max(k)``)             :func:`genmetrics.alpha_precision`, :func:`genmetrics.audit`, ``evaluate``
training nearest-other         :func:`genmetrics.authenticity` (pass the Reference as ``train``), ``evaluate``
distances
real mean, covariance          :func:`genmetrics.fd`, :func:`genmetrics.gaussian_kl`, ``evaluate`` (per backend:
                               the engines sum in different orders)
median-heuristic bandwidth     ``evaluate`` (RKE, Vendi with rbf/laplacian)
real Vendi / RKE               ``evaluate`` (at the real set's full size, i.e. when the fake set is not smaller)
=============================  ===========================================================================

k-NN distances are float64 values of exact decisions (see :mod:`genmetrics.engine.points`): the same on every
backend. Moments and scores depend on the engine's summation order, so they are kept per backend and computed on
first use for a backend the Reference has not seen (then kept in memory; :meth:`Reference.save` writes them).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any

import numpy as np

from .support.validation import check_embeddings, check_int

#: The version of the file layout; a file of another version is refused (rebuild it).
FORMAT_VERSION = 1
#: The default neighbourhood sizes a Reference keeps distances for: improved precision/recall's 3 and PRDC's 5.
DEFAULT_K = (3, 5)


class Reference:
    """The real (and training) set of a benchmark, with what every evaluation needs of it computed once.

    Build one with :meth:`build`, save it with :meth:`save`, load it with :meth:`load`; pass it wherever a metric
    takes ``real`` (and to :func:`genmetrics.authenticity` as ``train``). It behaves as the real array:
    ``np.asarray(ref)`` is the real set, ``ref.shape``/``ref.dtype`` are its.

    Attributes
    ----------
    real : ndarray (n, d), read-only
    train : ndarray (t, d) or None, read-only
    k : tuple of int
        The neighbourhood sizes the real k-NN distances cover (1 to max(k)).
    checksum : str
        SHA-256 of the real set's bytes (dtype and shape included), and of the training set's.
    """

    def __init__(self, real, train, k, cache: dict[str, Any], checksum: str, version: str):
        self.real = real
        self.train = train
        self.k = k
        self._cache = cache
        self.checksum = checksum
        self.genmetrics_version = version

    # -- construction --------------------------------------------------------------------------------------

    @classmethod
    def build(cls, real, *, train=None, k=DEFAULT_K, backend=None) -> Reference:
        """Compute the real side of every evaluation once.

        Parameters
        ----------
        real : array (n, d)
            The real (held-out) embeddings; copied to the host.
        train : array (t, d), optional, default None
            The training embeddings (authenticity).
        k : int or sequence of int, default (3, 5)
            Neighbourhood sizes the metrics will be asked for: the real k-NN distances are kept up to max(k),
            which serves every k from 1 (alpha-precision's nearest other point) to max(k).
        backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
            The engine for the passes; moments and scores are kept for it (others compute theirs on first use).

        Examples
        --------
        >>> import numpy as np
        >>> import genmetrics as gm
        >>> real = np.random.default_rng(0).normal(size=(300, 16))
        >>> ref = gm.Reference.build(real, k=(3, 5))
        >>> fake = np.random.default_rng(1).normal(size=(200, 16)) + 0.3
        >>> gm.prdc(ref, fake, k=5) == gm.prdc(real, fake, k=5)
        True
        """
        from . import __version__  # noqa: PLC0415 (the package imports this module)
        from .engine import get_backend  # noqa: PLC0415

        engine = get_backend(backend, real, train)
        real = _frozen_host(check_embeddings(real, "real", min_rows=2))
        ks = _check_ks(k, real.shape[0])
        if train is not None:
            train = _frozen_host(check_embeddings(train, "train", min_rows=2))
            if train.shape[1] != real.shape[1]:
                raise ValueError(
                    f"train: has {train.shape[1]} features but real has {real.shape[1]}; both must be embedded alike"
                )
        reference = cls(real, train, ks, {}, _checksum(real, train), __version__)
        reference._compute(engine)
        return reference

    def _compute(self, engine) -> None:
        from .distances import fd_moments  # noqa: PLC0415
        from .engine.kernels import median_heuristic_bandwidth  # noqa: PLC0415
        from .fidelity import kth_neighbor_radius  # noqa: PLC0415

        (points,) = engine.points(self.real, names=("real",))
        distances, _ = engine.knn(points, None, max(self.k))
        self._cache["neighbors"] = np.ascontiguousarray(_host(distances), dtype=np.float64)
        if self.train is not None:
            (train_points,) = engine.points(self.train, names=("train",))
            self._cache["train_rho"] = kth_neighbor_radius(engine, train_points, 1)
        self._cache["bandwidth"] = float(median_heuristic_bandwidth(self.real))
        self.moments(engine, 1.0, fd_moments)

    # -- what the metrics read -----------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        return self.real.shape

    @property
    def dtype(self):
        return self.real.dtype

    def __array__(self, dtype=None, copy=None):
        return self.real if dtype is None else self.real.astype(dtype)

    def __len__(self) -> int:
        return int(self.real.shape[0])

    def __repr__(self) -> str:
        train = "" if self.train is None else f", train {self.train.shape[0]} x {self.train.shape[1]}"
        return (
            f"Reference(real {self.real.shape[0]} x {self.real.shape[1]} {self.real.dtype}{train}, k={self.k}, "
            f"checksum {self.checksum[:12]})"
        )

    def neighbor_distances(self, k: int, name: str = "k") -> np.ndarray:
        """(n, k) float64: each real point's distances to its 1st..k-th nearest other real points."""
        if k > max(self.k):
            raise ValueError(
                f"{name}: {k} is more neighbours than this Reference keeps (k up to {max(self.k)}); rebuild it with "
                f"gm.Reference.build(real, k=({', '.join(map(str, sorted({*self.k, k})))}))"
            )
        return self._cache["neighbors"][:, :k]

    def train_nearest_other(self) -> np.ndarray:
        """(t,) float64: each training point's distance to its nearest other training point."""
        if "train_rho" not in self._cache:
            raise ValueError("train: this Reference was built without a training set; rebuild it with train=")
        return self._cache["train_rho"]

    @property
    def bandwidth(self) -> float:
        """The median-heuristic bandwidth of the real set
        (:func:`genmetrics.engine.kernels.median_heuristic_bandwidth`)."""
        return self._cache["bandwidth"]

    def moments(self, engine, scale: float, compute) -> tuple[Any, Any]:
        """(mean, covariance) of ``real * scale`` as ``compute(engine, real, scale)`` gives them on ``engine``,
        computed on first use for that engine and scale, then kept."""
        key = f"moments/{engine.name}/{scale!r}"
        if key + "/mean" not in self._cache:
            X = _to_device(self.real, engine)
            mean, covariance = compute(engine, X, scale)
            self._cache[key + "/mean"], self._cache[key + "/covariance"] = _host(mean), _host(covariance)
        xp = _namespace(engine)
        return xp.asarray(self._cache[key + "/mean"]), xp.asarray(self._cache[key + "/covariance"])

    def score(self, key: str, compute) -> float:
        """A real-set score (``evaluate``'s real Vendi/RKE) under ``key``: computed once, then kept."""
        key = "score/" + key
        if key not in self._cache:
            self._cache[key] = float(compute())
        return float(self._cache[key])

    # -- files ---------------------------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the Reference to one ``.npz`` file: the sets, every computed quantity, the format version, the
        genmetrics version, the shapes and the checksum (checked again by :meth:`load`)."""
        header = {
            "format_version": FORMAT_VERSION,
            "genmetrics": self.genmetrics_version,
            "shape": list(self.real.shape),
            "dtype": str(self.real.dtype),
            "train_shape": None if self.train is None else list(self.train.shape),
            "k": list(self.k),
            "checksum": self.checksum,
            "scalars": {key: value for key, value in self._cache.items() if not isinstance(value, np.ndarray)},
        }
        arrays: dict[str, Any] = {
            f"cache/{key}": value for key, value in self._cache.items() if isinstance(value, np.ndarray)
        }
        arrays["header"] = np.array(json.dumps(header))
        arrays["real"] = self.real
        if self.train is not None:
            arrays["train"] = self.train
        buffer = io.BytesIO()  # written whole, then moved into place: never a half-written file at ``path``
        np.savez(buffer, **arrays)
        path = os.fspath(path)
        partial = path + ".partial"
        with open(partial, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(partial, path)

    @classmethod
    def load(cls, path) -> Reference:
        """Read a Reference written by :meth:`save`; a file of another format version, with a wrong checksum
        (a corrupted or edited file) or missing parts is a ValueError naming ``path``, never a silent result."""
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                contents = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise ValueError(f"path: no such file {path!r}") from None
        except Exception as exc:  # not an npz, truncated, corrupted zip
            raise ValueError(f"path: {path!r} is not a genmetrics Reference file ({exc})") from None
        try:
            header = json.loads(str(contents.pop("header")))
            version = header["format_version"]
        except Exception:
            raise ValueError(f"path: {path!r} is not a genmetrics Reference file (no header)") from None
        if version != FORMAT_VERSION:
            raise ValueError(
                f"path: {path!r} is a Reference of format version {version}; this genmetrics reads version "
                f"{FORMAT_VERSION}: rebuild it with gm.Reference.build"
            )
        real = contents.pop("real", None)
        train = contents.pop("train", None)
        if real is None or list(real.shape) != header["shape"] or str(real.dtype) != header["dtype"]:
            raise ValueError(f"path: {path!r} is damaged: its real set is missing or not the shape it says")
        if (train is None) != (header["train_shape"] is None):
            raise ValueError(f"path: {path!r} is damaged: its training set is missing or unexpected")
        real, train = _frozen_host(real), None if train is None else _frozen_host(train)
        if _checksum(real, train) != header["checksum"]:
            raise ValueError(f"path: {path!r} is damaged: the checksum of its data does not match; rebuild it")
        cache = {name[len("cache/") :]: value for name, value in contents.items() if name.startswith("cache/")}
        cache.update(header["scalars"])
        if "neighbors" not in cache or cache["neighbors"].shape != (real.shape[0], max(header["k"])):
            raise ValueError(f"path: {path!r} is damaged: its neighbour distances are missing")
        return cls(real, train, tuple(header["k"]), cache, header["checksum"], header["genmetrics"])


def as_reference(value) -> Reference | None:
    """``value`` if it is a Reference, else None."""
    return value if isinstance(value, Reference) else None


def _check_ks(k, n: int) -> tuple[int, ...]:
    values = (k,) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else k
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"k: expected an int or a sequence of ints, got {type(k).__name__}") from None
    if not values:
        raise ValueError("k: expected at least one neighbourhood size")
    return tuple(sorted({check_int(v, "k", low=1, high=n - 1) for v in values}))


def _frozen_host(X) -> np.ndarray:
    from .support.arrays import to_host  # noqa: PLC0415

    X = np.array(to_host(X), order="C", copy=True)
    X.setflags(write=False)
    return X


def _checksum(real: np.ndarray, train: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for X in (real, train):
        if X is None:
            digest.update(b"none")
            continue
        digest.update(f"{X.dtype.str}{X.shape}".encode())
        digest.update(np.ascontiguousarray(X).tobytes())
    return digest.hexdigest()


def _host(a) -> np.ndarray:
    from .support.arrays import to_host  # noqa: PLC0415

    return np.asarray(to_host(a))


def _namespace(engine):
    if engine.device == "gpu":
        import cupy  # noqa: PLC0415

        return cupy
    return np


def _to_device(X: np.ndarray, engine):
    return _namespace(engine).asarray(X)
