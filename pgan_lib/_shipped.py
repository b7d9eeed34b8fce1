"""The list of checkpoints shipped in checkpoints/, with their sha256 (see pretrained.py)."""
from .pretrained import ship  # noqa: F401
ship("vae-fashion", "vae-fashion", "3c6c5e108b0e3eb893e909f731c23e3a087149ae3670fa59d620e951674fa6b4",
     "convolutional VAE, 16-d latent, Bernoulli likelihood, Fashion-MNIST (fp16 weights)")
ship("cvae-fashion", "cvae-fashion", "1df4ef8b00b37bf693e37204805e451c0b6267952e4a8248bc537b7e1d9aaa44",
     "VAE conditioned on the product description (bag-of-words encoder), Fashion-MNIST (fp16 weights)")
