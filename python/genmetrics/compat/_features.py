"""What the FID/KID drop-ins share: features from NumPy arrays or torch tensors, KID over given subsets."""

from __future__ import annotations

import numpy as np

import genmetrics as gm
from genmetrics.support.validation import check_embeddings


def is_torch_tensor(values) -> bool:
    """True for a ``torch.Tensor`` (told by its type's module, without importing torch)."""
    return type(values).__module__.split(".")[0] == "torch" and callable(getattr(values, "detach", None))


def host_features(features, name: str, *, vector_is_row: bool = False):
    """``features`` as a finite float32/float64 NumPy array (samples x features), errors naming ``name``.

    torch tensors are detached and copied to the host (bfloat16 and float16 become float32); other inputs go
    through :func:`genmetrics.support.validation.check_embeddings` (NumPy, lists, CuPy copied to the host).
    ``vector_is_row``: a 1-D input is one sample (torchmetrics' ``update`` unsqueezes it so).
    """
    if is_torch_tensor(features):
        tensor = features.detach()
        if tensor.is_complex():
            raise TypeError(f"{name}: expected real numbers, got a tensor of dtype {tensor.dtype}")
        if tensor.is_floating_point() and tensor.element_size() < 4:  # float16, bfloat16: NumPy lacks bfloat16
            tensor = tensor.float()
        features = tensor.cpu().numpy()
    if vector_is_row and np.ndim(features) == 1:
        features = np.asarray(features)[None, :]
    return check_embeddings(features, name, device="host")


def kid_values(real, fake, draws, *, degree: int, gamma: float, coef0: float) -> np.ndarray:
    """The unbiased polynomial MMD^2 of each subset pair ``(rows of real, rows of fake)`` in ``draws``, float64.

    Each pair is computed by :func:`genmetrics.mmd` (``kernel="polynomial"``, ``unbiased=True``) on the subsets
    converted to float64, so the values do not depend on the features' dtype.
    """
    values = np.empty(len(draws), dtype=np.float64)
    for t, (rows_real, rows_fake) in enumerate(draws):
        values[t] = gm.mmd(
            real[rows_real].astype(np.float64),
            fake[rows_fake].astype(np.float64),
            kernel="polynomial",
            unbiased=True,
            degree=degree,
            gamma=gamma,
            coef0=coef0,
        )
    return values
