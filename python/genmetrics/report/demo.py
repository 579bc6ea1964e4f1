"""Data for ``genmetrics demo``: a real data set the package makes itself, and generators with known failures.

The real data: 10 classes in d = 64, each a Gaussian with its own random covariance (anisotropic, like the
embeddings of a 10-class image set), drawn twice: a training set and a held-out real set. Four generators are
fitted to the training set, each with a known failure that some metric should catch:

=================  ============================================================  ==============================
generator          what it does                                                  caught by
=================  ============================================================  ==============================
faithful           a Gaussian per class fitted to the training set               (nothing: the reference)
mode collapse      the same, but it only ever samples 3 of the 10 classes        recall, coverage, Vendi, RKE
memoriser          training samples with a little noise (copies)                 authenticity
noisy              the faithful generator's samples with Gaussian noise added    precision, density
=================  ============================================================  ==============================
"""

from __future__ import annotations

import numpy as np

CLASSES = 10
DIM = 64


def _class_models(rng):
    means = rng.standard_normal((CLASSES, DIM)) * 3.0
    factors = [rng.standard_normal((DIM, DIM)) / np.sqrt(DIM) * rng.uniform(0.5, 1.5) for _ in range(CLASSES)]
    return means, factors


def _draw(rng, means, factors, n, classes=None):
    classes = np.arange(CLASSES) if classes is None else np.asarray(classes)
    labels = rng.choice(classes, size=n)
    out = np.empty((n, DIM))
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        out[rows] = means[c] + rng.standard_normal((rows.size, DIM)) @ factors[c].T
    return out.astype(np.float32), labels


def make_demo(n: int = 2000, seed: int = 0):
    """(train, real, {generator name: generated samples}), each n x 64 float32."""
    rng = np.random.default_rng(seed)
    means, factors = _class_models(rng)
    train, train_labels = _draw(rng, means, factors, n)
    real, _ = _draw(rng, means, factors, n)

    fitted_means = np.stack([train[train_labels == c].mean(axis=0) for c in range(CLASSES)])
    fitted_factors = [
        np.linalg.cholesky(np.cov(train[train_labels == c].T.astype(np.float64)) + 1e-6 * np.eye(DIM))
        for c in range(CLASSES)
    ]
    spread = float(np.sqrt(np.mean(np.var(train, axis=0))))
    within = float(np.sqrt(np.mean([np.var(train[train_labels == c], axis=0).mean() for c in range(CLASSES)])))
    faithful = _draw(rng, fitted_means, fitted_factors, n)[0]
    generated = {
        "faithful": faithful,
        "mode collapse": _draw(rng, fitted_means, fitted_factors, n, classes=[0, 1, 2])[0],
        "memoriser": (train[rng.choice(n, size=n)] + 0.01 * spread * rng.standard_normal((n, DIM))).astype(np.float32),
        "noisy": (_draw(rng, fitted_means, fitted_factors, n)[0] + 0.5 * within * rng.standard_normal((n, DIM))).astype(
            np.float32
        ),
    }
    return train, real, generated
