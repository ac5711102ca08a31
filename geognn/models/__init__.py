"""Complete models, composed from :mod:`geognn.nn` layers, and their registry."""

from __future__ import annotations

from torch import nn

from geognn.models.base import MoleculeModel
from geognn.models.conve import ConvE
from geognn.models.cormorant import Cormorant
from geognn.models.kernel_ridge import KernelRidge
from geognn.models.schnet import SchNet, SchNetInteraction
from geognn.models.targets import fit_atomref, fit_target_statistics

MODELS: dict[str, type[nn.Module]] = {"schnet": SchNet, "cormorant": Cormorant, "conve": ConvE, "krr": KernelRidge}


def build_model(name: str, **config) -> nn.Module:
    """Instantiates a registered model by name (``"schnet"``) with keyword hyperparameters."""
    try:
        cls = MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}") from None
    return cls(**config)


__all__ = ["MODELS", "ConvE", "Cormorant", "KernelRidge", "MoleculeModel", "SchNet", "SchNetInteraction", "build_model", "fit_atomref",
           "fit_target_statistics"]
