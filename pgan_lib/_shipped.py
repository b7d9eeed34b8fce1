"""The list of checkpoints shipped in checkpoints/, with their sha256 (see pretrained.py)."""
from .pretrained import ship  # noqa: F401
