"""Latent exploration: move sliders and watch a generator's product change.

A generator turns a latent vector z (and, for a conditional model, a class or a
description) into an image. This package lets you walk around in z:

- **directions** (which way to move z: image principal components mapped back to
  the latent, and attribute differences such as ``darker`` and ``wider``) and
  **interpolation** (``lerp``, ``slerp``): see ``latent.py``;
- **designs** (a product you can save, reload and share), interpolation between
  designs and attribute arithmetic: see ``design.py``.

Every widget has a plain-Python twin that returns the image or the figure:

    widget                        twin
    explorer()                    render(design), explorer_figure(design)
    interpolation_widget(a, b)    interpolate(a, b, ...), interpolation_figure(a, b)
    attribute_widget(design)      attribute_row(design, ...), attribute_figure(designs)
    repair.RepairBox(model, img)  repair.repair_box(model, img, x, y, w, h)   (notebook 07)

The package has four parts:

    latent.py    the maths on latents: directions from a sample, lerp, slerp (pure torch)
    design.py    designs and the models they use (``SHELF``), rendering, PNGs, the twins
    widgets.py   the ipywidgets panels (ipywidgets is needed only when one is built)
    repair.py    place a hole with sliders and watch a repair model fill it (not imported here)

Works with any kit generator: ``model.sample(n, labels=None, prompts=None,
seed=None, z=None)`` returning images in [0, 1], ``model.config.latent_dim``, and
an optional ``model.condition`` whose ``kind`` is "label" or "description".
"""
from __future__ import annotations

from .design import (
    CONFIG,
    DEFAULT_MODEL,
    SHELF,
    Design,
    ExploreConfig,
    ModelShelf,
    attribute_figure,
    attribute_row,
    class_names,
    complete,
    condition_kind,
    condition_kwargs,
    dataset_of,
    default_prompt,
    describe,
    design_latent,
    design_metadata,
    explorer_figure,
    find_directions,
    generator_names,
    get_model,
    interpolate,
    interpolation_figure,
    png_bytes,
    read_design,
    read_metadata,
    register_model,
    render,
    render_latents,
    rows_figure,
    save_design,
    to_picture,
    unregister_model,
)
from .latent import (
    ATTRIBUTES,
    Directions,
    attribute_direction,
    attribute_scores,
    directions_from_samples,
    image_ink,
    image_pca_directions,
    lerp,
    seed_latent,
    slerp,
)
from .widgets import (
    AttributeWidget,
    InterpolationWidget,
    LatentExplorer,
    attribute_widget,
    explorer,
    interpolation_widget,
    one_thread,
    random_seed,
)

__all__ = [
    # latent maths
    "ATTRIBUTES", "Directions", "attribute_direction", "attribute_scores", "directions_from_samples",
    "image_ink", "image_pca_directions", "lerp", "seed_latent", "slerp",
    # designs, models, rendering, PNGs, static figures
    "CONFIG", "DEFAULT_MODEL", "SHELF", "Design", "ExploreConfig", "ModelShelf", "attribute_figure",
    "attribute_row", "class_names", "complete", "condition_kind", "condition_kwargs", "dataset_of",
    "default_prompt", "describe", "design_latent", "design_metadata", "explorer_figure", "find_directions",
    "generator_names", "get_model", "interpolate", "interpolation_figure", "png_bytes", "read_design",
    "read_metadata", "register_model", "render", "render_latents", "rows_figure", "save_design", "to_picture",
    "unregister_model",
    # widgets
    "AttributeWidget", "InterpolationWidget", "LatentExplorer", "attribute_widget", "explorer",
    "interpolation_widget", "one_thread", "random_seed",
]
