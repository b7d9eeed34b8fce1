"""The list of checkpoints shipped in checkpoints/, with their sha256 (see pretrained.py)."""
from .pretrained import ship  # noqa: F401
ship("vae-fashion", "vae-fashion", "3c6c5e108b0e3eb893e909f731c23e3a087149ae3670fa59d620e951674fa6b4",
     "convolutional VAE, 16-d latent, Bernoulli likelihood, Fashion-MNIST (fp16 weights)")
ship("cvae-fashion", "cvae-fashion", "1df4ef8b00b37bf693e37204805e451c0b6267952e4a8248bc537b7e1d9aaa44",
     "VAE conditioned on the product description (bag-of-words encoder), Fashion-MNIST (fp16 weights)")
ship("catalog-classifier", "classifier-catalog", "6c7e41decd1cd317c2abdc098825f24524511ad20e8474d7cd510bf56626d16a",
     "category/colour/pattern classifier for the 32x32 colour catalogue; test accuracy 1.000/0.9998/1.000")
ship("fashion-clip", "clip-fashion", "de99699838b6883175a00642e7b6f73126190307b0eefdbb54d1fc7981165a10",
     "mini CLIP (CNN image encoder + 2-layer Transformer text encoder), Fashion-MNIST descriptions (fp16 weights)")
ship("fashion-classifier", "classifier-fashion", "ca95bf1fbb4479a5246fcf6d914010716297dd0d1ec581ce3d7b30d55029d75c",
     "small CNN on Fashion-MNIST, the feature extractor of pgan eval; test accuracy 0.9353")
ship("catalog-clip", "clip-catalog", "2e51e9c006db49407261a9a0147f101f7d7366e964efa1f33fdcbedc5378471b",
     "mini CLIP (CNN image encoder + 2-layer Transformer text encoder), colour catalogue descriptions (fp16 weights)")
ship("fashion-cgan", "cgan-fashion", "e1ac6760986c63c96896ad0faec705c05b334e6f8e0b3a7dad19ce1a5250f754",
     "class-conditional GAN (conditional BatchNorm G, projection D), Fashion-MNIST; EMA generator, fp16, truncation 0.9")
ship("fashion-t2i", "t2i-fashion", "e843c017406511304938f865c4170d93dbdeaa2c13818bb3a4237d150c216607",
     "text-conditioned GAN (frozen fashion-clip text encoder + EMA generator), Fashion-MNIST (fp16 weights)")
ship("fashion-classifier-robust", "classifier-fashion-robust", "526f03be285f5dc7e7762dca7f797ad2a2b9d4562eb850062c3947c5ddba52b5",
     "the fashion-classifier network, PGD-2 adversarially trained at L-inf eps 0.1; test accuracy 0.8543 clean")
ship("catalog-t2i", "t2i-catalog", "f74d67b9151606f42040e5db8d30de74eab2512cd510556bca883a9610932d43",
     "text-conditioned GAN (frozen catalog-clip text encoder + EMA generator), colour catalogue (fp16 weights)")
ship("fashion-cgan-full", "cgan-fashion", "f7a6c91597145c600dfdf1f18a0ab08e7ec3978c362f5b1c06b90afe68dd0af6",
     "the fashion-cgan run with its discriminator (G, D and EMA G, fp16): for attacks on D and for fine-tuning")
ship("cvae-fashion-clip", "cvae-fashion-clip", "9ce4276812f8f0af7a9a392fc9833ff8076727b7e32944131517964bcd1d5238",
     "the cvae-fashion VAE reading descriptions through fashion-clip's frozen Transformer text encoder (fp16 weights)")
ship("fashion-cgan-no-sn", "cgan-fashion-no-sn", "d89b482b781b85d35537ed230dfe53dd6cd72c2d55b6fc8f4d3af5aea4704552",
     "control run for notebook 04: cgan-fashion with a plain discriminator (no spectral norm); EMA generator, fp16")
