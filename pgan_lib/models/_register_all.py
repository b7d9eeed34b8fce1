"""Importing this module imports every model module, so each registers its architecture."""
import importlib

for _name in ("vae", "classifier", "gan", "clip", "t2i"):
    try:
        importlib.import_module(f"pgan_lib.models.{_name}")
    except ModuleNotFoundError as err:  # a model module not written yet
        if err.name != f"pgan_lib.models.{_name}":
            raise
