"""torchmetrics-style FID and KID on features: ``update(features, real=...)``, ``compute()``, ``reset()``.

torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` (``torchmetrics.image``, version 1.9)
run an Inception network inside ``update(imgs, real)``. :class:`FrechetDistance` and :class:`KernelDistance`
take the features themselves (torch tensors, on any device, or NumPy arrays), so any embedding works and nothing
is downloaded::

    fid = FrechetInceptionDistance(feature=2048)       # torchmetrics: images in, weights downloaded
    fid.update(real_images, real=True)

    fid = FrechetDistance()                            # genmetrics: features in
    fid.update(extractor(real_images), real=True)
    fid.update(extractor(fake_images), real=False)
    fid.compute()

Same method names, ``real`` flag, ``reset_real_features`` and KID parameters (``subsets``, ``subset_size``,
``degree``, ``gamma``, ``coef``) as torchmetrics, and the same definitions: the unbiased covariance (n - 1), KID's
unbiased polynomial MMD^2 with the cross term over all pairs, its population standard deviation over subsets.
They are plain Python classes, not ``torchmetrics.Metric``\\ s (no ``nn.Module``, ``forward``, ``.to()`` or DDP
synchronisation); torch is imported only when needed.

Results: 0-d float64 ``torch.Tensor``\\ s on the CPU when any update received a torch tensor (torchmetrics returns
tensors in the features' dtype: float32 features give a float32 FID), Python floats otherwise.
"""

from __future__ import annotations

import numpy as np

import genmetrics as gm
from genmetrics.distances import MAX_KID_SUBSETS
from genmetrics.support.validation import check_bool, check_int, check_positive

from ._features import host_features, is_torch_tensor, kid_values

__all__ = ["FrechetDistance", "KernelDistance"]


def _as_result(value: float, as_tensor: bool):
    if not as_tensor:
        return float(value)
    import torch  # noqa: PLC0415 (optional dependency: only when the updates were torch tensors)

    return torch.tensor(float(value), dtype=torch.float64)


class _FeatureMetric:
    """The ``real``/``fake`` bookkeeping shared by the two classes."""

    def __init__(self, num_features, reset_real_features):
        self._given_num_features = None if num_features is None else check_int(num_features, "num_features", low=1)
        self.num_features = self._given_num_features
        self.reset_real_features = check_bool(reset_real_features, "reset_real_features")
        self._torch_input = False

    def _forget_width(self):
        self.num_features = self._given_num_features
        self._torch_input = False

    def _features(self, features, real):
        real = check_bool(real, "real")
        self._torch_input = self._torch_input or is_torch_tensor(features)
        X = host_features(features, "features", vector_is_row=True)
        if self.num_features is None:
            self.num_features = X.shape[1]
        elif X.shape[1] != self.num_features:
            raise ValueError(f"features: has {X.shape[1]} features but this metric holds {self.num_features}")
        return X, real


class FrechetDistance(_FeatureMetric):
    r"""Fréchet distance between the Gaussian fits of streamed real and generated features (FID on any embedding).

    FD = ||mu_r - mu_f||^2 + tr Sigma_r + tr Sigma_f - 2 tr sqrt(Sigma_r Sigma_f)

    (Heusel et al., NeurIPS 2017), torchmetrics' ``FrechetInceptionDistance`` without the network. Features are
    never kept: each side holds its count, mean and centred scatter matrix sum (x - mu)(x - mu)^T in float64,
    and each batch is merged with Chan, Golub & LeVeque's pairwise update (1983; the batch centred at its own
    mean first), so there is no sum x x^T - n mu mu^T cancellation (torchmetrics keeps sum x and sum x x^T).
    ``compute()`` is :func:`genmetrics.frechet_from_statistics` on the means and unbiased covariances.

    Parameters
    ----------
    num_features : int >= 1, optional, default None
        The feature width; None: taken from the first update. Later updates of another width are a ValueError.
    reset_real_features : bool, default True
        False: :meth:`reset` keeps the real side (a fixed reference set), as in torchmetrics.

    Notes
    -----
    Agreement: equal to :func:`genmetrics.frechet_from_statistics` of ``np.mean``/``np.cov`` of the concatenated
    features to ~1e-12 relative, and to torchmetrics' value (float64 features) to 1e-11 relative to
    ||mu_r - mu_f||^2 + tr Sigma_r + tr Sigma_f when the covariances are well conditioned (tests/test_compat_fid.py).
    On singular covariances (fewer samples than features, constant features) the symmetric eigen route of
    :func:`genmetrics.frechet_from_statistics` takes square roots of round-off eigenvalues and is off by up to
    d sqrt(eps) |Sigma|. Measured against the exact :func:`genmetrics.fd` on scikit-learn's digits and random
    features: 8e-8 to 1.3e-6 here where torchmetrics' ``eigvals`` of the product is within 1e-11 (n > d with
    constant pixels: their exact zero rows give exact zero eigenvalues there), 8e-6 and 1.2e-5 here against 2e-5
    and 4e-5 for torchmetrics (n <= d). When the features are at hand, :func:`genmetrics.fd` is accurate to
    ~1e-12 on all of these.
    Memory: 2 d^2 float64 plus one batch converted to float64.

    Examples
    --------
    >>> import numpy as np
    >>> from genmetrics.compat.torchmetrics import FrechetDistance
    >>> rng = np.random.default_rng(0)
    >>> metric = FrechetDistance()
    >>> for _ in range(4):
    ...     metric.update(rng.normal(size=(100, 8)), real=True)
    ...     metric.update(rng.normal(size=(100, 8)) + 0.5, real=False)
    >>> print(f"{metric.compute():.3f}")
    2.295
    """

    def __init__(self, num_features=None, *, reset_real_features=True):
        super().__init__(num_features, reset_real_features)
        self._state = {True: None, False: None}  # real -> (n, mean, scatter)

    def update(self, features, real) -> None:
        """Add a batch of features (n x d, or one sample as a d-vector) to the real or the generated side."""
        X, real = self._features(features, real)
        X = X.astype(np.float64)
        n_b = X.shape[0]
        mean_b = X.mean(axis=0)
        Z = X - mean_b
        correction = Z.mean(axis=0)  # the rounding of mean_b (two-pass correction)
        mean_b += correction
        Z -= correction
        scatter_b = Z.T @ Z
        state = self._state[real]
        if state is None:
            self._state[real] = (n_b, mean_b, (scatter_b + scatter_b.T) / 2)
            return
        n_a, mean_a, scatter_a = state
        n = n_a + n_b
        delta = mean_b - mean_a
        mean = mean_a + delta * (n_b / n)
        scatter = scatter_a + scatter_b + np.outer(delta, delta) * (n_a * n_b / n)
        self._state[real] = (n, mean, (scatter + scatter.T) / 2)

    def _moments(self, real):
        name = "real" if real else "fake"
        state = self._state[real]
        count = 0 if state is None else state[0]
        if count < 2:
            raise ValueError(
                f"{name}: needs at least 2 samples for a covariance, got {count}; "
                f"call update(features, real={real}) with more"
            )
        n, mean, scatter = state
        return mean, scatter / (n - 1)

    def compute(self):
        """The Fréchet distance between the two sides' Gaussian fits: a float (a float64 tensor after torch input)."""
        mu_r, sigma_r = self._moments(True)
        mu_f, sigma_f = self._moments(False)
        return _as_result(gm.frechet_from_statistics(mu_r, sigma_r, mu_f, sigma_f), self._torch_input)

    def reset(self) -> None:
        """Forget the generated side, and the real side too unless ``reset_real_features=False``."""
        self._state[False] = None
        if self.reset_real_features:
            self._state[True] = None
            self._forget_width()


class KernelDistance(_FeatureMetric):
    r"""KID between accumulated real and generated features: torchmetrics' ``KernelInceptionDistance`` on features.

    For each of ``subsets`` subsets, ``subset_size`` = s rows x of the real and s rows y of the generated features
    (without replacement) score the unbiased MMD^2 with k(a, b) = (gamma a.b + coef)^degree,

        KID_t = (1/(s(s-1))) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - (2/s^2) sum_ij k(x_i, y_j)

    (Binkowski et al., "Demystifying MMD GANs", ICLR 2018); ``compute()`` returns their mean and population
    standard deviation, as torchmetrics. The features are kept (in their dtype, float16/bfloat16 as float32); each
    subset is scored in float64 by :func:`genmetrics.mmd` (fused kernel sums, no s x s matrix).

    Parameters
    ----------
    num_features : int >= 1, optional, default None
        The feature width; None: taken from the first update.
    subsets : int >= 1, default 100
    subset_size : int >= 2, default 1000
        More than the rows of either side is a ValueError at :meth:`compute` (as torchmetrics).
    degree : int >= 1, default 3
    gamma : float > 0, optional, default None
        None: 1 / d.
    coef : float > 0, default 1.0
        torchmetrics' name (``coef0`` in :func:`genmetrics.kid`).
    reset_real_features : bool, default True
        False: :meth:`reset` keeps the real features.
    seed : int >= 0 or None, default None
        How the subsets are drawn. None: as torchmetrics, from torch's global generator (``torch.randperm`` of
        the real rows, then of the generated rows, for each subset; needs torch), so after the same
        ``torch.manual_seed(...)`` both score the same subsets. An int: as :func:`genmetrics.kid` with that seed
        (``numpy.random.default_rng(seed)``, ``permutation`` of the real rows, then of the generated rows, for
        each subset; no torch needed): the same number as ``genmetrics.kid(real, fake, ..., seed=seed)`` on the
        concatenated float64 features, to round-off.

    Examples
    --------
    >>> import numpy as np
    >>> from genmetrics.compat.torchmetrics import KernelDistance
    >>> rng = np.random.default_rng(0)
    >>> metric = KernelDistance(subsets=10, subset_size=50, seed=0)
    >>> metric.update(rng.normal(size=(200, 8)), real=True)
    >>> metric.update(rng.normal(size=(200, 8)) + 0.5, real=False)
    >>> mean, std = metric.compute()
    >>> print(f"{mean:.3f} {std:.3f}")
    0.972 0.179
    """

    def __init__(
        self,
        num_features=None,
        *,
        subsets=100,
        subset_size=1000,
        degree=3,
        gamma=None,
        coef=1.0,
        reset_real_features=True,
        seed=None,
    ):
        super().__init__(num_features, reset_real_features)
        self.subsets = check_int(subsets, "subsets", low=1, high=MAX_KID_SUBSETS)
        self.subset_size = check_int(subset_size, "subset_size", low=2)
        self.degree = check_int(degree, "degree", low=1)
        self.gamma = None if gamma is None else check_positive(gamma, "gamma")
        self.coef = check_positive(coef, "coef")
        self.seed = None if seed is None else check_int(seed, "seed", low=0)
        self._batches: dict[bool, list] = {True: [], False: []}

    def update(self, features, real) -> None:
        """Keep a batch of features (n x d, or one sample as a d-vector) for the real or the generated side."""
        X, real = self._features(features, real)
        self._batches[real].append(X)

    def _side(self, real):
        name = "real" if real else "fake"
        batches = self._batches[real]
        rows = sum(X.shape[0] for X in batches)
        if rows < self.subset_size:
            raise ValueError(
                f"subset_size: {self.subset_size} is larger than the {rows} {name} samples; "
                f"pass subset_size <= {rows} or update(features, real={real}) with more"
            )
        if len(batches) > 1:
            batches[:] = [np.concatenate(batches)]  # once; later computes reuse it
        return batches[0]

    def _draws(self, n_real, n_fake):
        s = self.subset_size
        if self.seed is not None:
            rng = np.random.default_rng(self.seed)
            return [(rng.permutation(n_real)[:s], rng.permutation(n_fake)[:s]) for _ in range(self.subsets)]
        try:
            import torch  # noqa: PLC0415 (optional dependency)
        except ImportError:
            raise ValueError(
                "seed: None draws the subsets from torch's global generator, as torchmetrics does, which needs "
                "torch; pass an int seed (numpy draws, as genmetrics.kid)"
            ) from None
        return [(torch.randperm(n_real)[:s].numpy(), torch.randperm(n_fake)[:s].numpy()) for _ in range(self.subsets)]

    def compute(self):
        """(mean, std) of the subsets' KID: floats, or float64 tensors after torch input."""
        real = self._side(True)
        fake = self._side(False)
        gamma = 1.0 / real.shape[1] if self.gamma is None else self.gamma
        draws = self._draws(real.shape[0], fake.shape[0])
        values = kid_values(real, fake, draws, degree=self.degree, gamma=gamma, coef0=self.coef)
        if not np.all(np.isfinite(values)):
            raise ValueError("features: the polynomial kernel overflows for these values; rescale the features")
        return _as_result(values.mean(), self._torch_input), _as_result(values.std(), self._torch_input)

    def reset(self) -> None:
        """Forget the generated features, and the real ones too unless ``reset_real_features=False``."""
        self._batches[False] = []
        if self.reset_real_features:
            self._batches[True] = []
            self._forget_width()
