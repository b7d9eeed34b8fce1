"""Importing this module imports every module that defines a model, so each registers its architecture
(``KitModel.__init_subclass__`` fills ``REGISTRY``); ``load_model`` needs them all."""
from .. import defenses  # noqa: F401  (the adversarially trained classifier of run folders)
from . import classifier, clip, detector, gan, pix2pix, progan, t2i, vae  # noqa: F401
