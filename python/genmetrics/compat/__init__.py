"""Drop-in replacements for the public reference packages, computed by genmetrics.

Each submodule mirrors the call signatures and return shapes of one reference package, so that code
written against it can switch by changing an import, and gets exact values with the reference's known
bugs fixed (each function's docstring says which bug it fixes and how its kernel maps onto genmetrics'
kernel conventions):

=========================================  =================================================
reference import                           genmetrics replacement
=========================================  =================================================
``from vendi_score import vendi``          ``from genmetrics.compat.vendi_score import vendi``
                                           (or ``from genmetrics.compat import vendi_score
                                           as vendi``)
``from rke_score import RKE``              ``from genmetrics.compat.rke_score import RKE``
``from prdc import compute_prdc``          ``from genmetrics.compat.prdc import compute_prdc``
``from pytorch_fid.fid_score import``      ``from genmetrics.compat.pytorch_fid import``
``calculate_frechet_distance``             ``calculate_frechet_distance``
``from cleanfid.fid import``               ``from genmetrics.compat.cleanfid import``
``frechet_distance, kernel_distance``      ``frechet_distance, kernel_distance, fid_from_feats``
torchmetrics' ``FrechetInception``-        ``from genmetrics.compat.torchmetrics import``
``Distance``, ``KernelInceptionDistance``  ``FrechetDistance, KernelDistance`` (features in
(images in ``update``)                     ``update``, no Inception network)
=========================================  =================================================

The submodules are imported lazily, on first attribute access, so that ``import genmetrics`` does not
pay for them.
"""

import importlib

_SHIMS = ("vendi_score", "rke_score", "prdc", "pytorch_fid", "cleanfid", "torchmetrics")

__all__ = list(_SHIMS)


def __getattr__(name):
    if name in _SHIMS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
            raise
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
