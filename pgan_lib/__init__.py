"""pgan_lib: the library behind the pgan-kit notebooks (product image generation)."""
from .config import get_mode, pick_device

__version__ = "0.1.0"

__all__ = ["__version__", "get_mode", "pick_device"]
