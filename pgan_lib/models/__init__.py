"""The kit's models. ``load_model(path)`` rebuilds any of them from a checkpoint."""
from .base import REGISTRY, KitModel, load_model

__all__ = ["KitModel", "REGISTRY", "load_model"]
