"""Designs: one product = model + seed + class or description + slider offsets.

- **models**: the generators you can explore sit on a ``ModelShelf``: the
  shipped ones (loaded on first use) and any you register yourself. ``SHELF`` is
  the shelf every function here uses; it also keeps the slider directions found
  for each model, so they are found once.
- **designs**: a product is a ``Design`` (model, seed, class or description,
  slider offsets); ``render(design)`` draws it and ``save_design`` writes a PNG
  with the design in its metadata, which ``read_design`` turns back into the
  same product.
- **interpolation** between two designs, linear or spherical (``interpolate``).
- **attribute arithmetic**: z + a * (dark - light), shown as a row (``attribute_row``).
- **static figures** (``explorer_figure``, ``interpolation_figure``,
  ``attribute_figure``): the widgets on paper, for reading without Jupyter.

Works with any kit generator: ``model.sample(n, labels=None, prompts=None,
seed=None, z=None)`` returning images in [0, 1], ``model.config.latent_dim``, and
an optional ``model.condition`` whose ``kind`` is "label" or "description".
"""
from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .. import pretrained
from ..provenance import Provenance, save_png_with_provenance
from ..viz import image_grid
from .latent import Directions, directions_from_samples, lerp, seed_latent, slerp

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_MODEL = "vae-fashion"


@dataclass(frozen=True)
class ExploreConfig:
    """How the directions are found and how images are shown.

    The directions depend only on these numbers and the model, never on the run
    mode, so a saved design renders the same product anywhere.
    """

    n_samples: int = 1024       # images the model draws to find the directions
    n_pca: int = 4              # sliders from image PCA
    seed: int = 0               # seed of that sample
    slider_range: float = 3.0   # sliders go from -range to +range (prior standard deviations)
    scale: int = 8              # screen pixels per image pixel (28 x 28 -> 224 x 224)


CONFIG = ExploreConfig()


@dataclass
class Design:
    """One product: which model, which seed, which class or description, and the slider offsets."""

    model: str = DEFAULT_MODEL
    seed: int = 0
    label: int | None = None
    prompt: str | None = None
    offsets: dict[str, float] = field(default_factory=dict)

    def with_offsets(self, **offsets: float) -> Design:
        """A copy with some slider offsets changed, e.g. ``design.with_offsets(darker=2.0)``."""
        return replace(self, offsets={**self.offsets, **offsets})


# --------------------------------------------------------------------------------------------
# Models: the shipped generators, plus any model you register yourself
# --------------------------------------------------------------------------------------------

_CLASS_NAMES = {
    "fashion-mnist": ("t-shirt", "trouser", "pullover", "dress", "coat",
                      "sandal", "shirt", "sneaker", "bag", "ankle boot"),
    "catalog": ("t-shirt", "trousers", "dress", "sneaker", "handbag", "mug"),
}
_DEFAULT_PROMPTS = {"fashion-mnist": "a medium regular ankle boot", "catalog": "a red striped mug"}


def _sidecar(name: str) -> dict:
    """A shipped checkpoint's JSON sidecar (empty when there is none)."""
    path = pretrained.path_of(name).with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class ModelShelf:
    """The generators you can explore, and what is known about each.

    For each model name: the loaded generator, the data set it was trained on,
    and the slider directions found for it (one set per class or description and
    sample settings). Shipped models are loaded the first time they are asked for.
    """

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}                  # name -> loaded generator
        self._datasets: dict[str, str] = {}                # name -> data set it was trained on
        self._directions: dict[tuple, Directions] = {}     # (name, label, prompt, sample settings) -> directions

    def names(self) -> list[str]:
        """Registered and loaded models, then every other shipped generator (see ``generator_names``)."""
        shipped = [n for n in sorted(pretrained.SHIPPED)
                   if "latent_dim" in _sidecar(n).get("config", {}) and pretrained.available(n)]
        return list(self._models) + [n for n in shipped if n not in self._models]

    def register(self, name: str, model: Any, dataset: str | None = None) -> None:
        """Put ``model`` on the shelf as ``name`` (in eval mode), forgetting directions found under that name."""
        self._models[name] = model.eval()
        if dataset:
            self._datasets[name] = dataset
        self._forget_directions(name)

    def unregister(self, name: str) -> None:
        """Take ``name`` off the shelf, with its data set and directions."""
        self._models.pop(name, None)
        self._datasets.pop(name, None)
        self._forget_directions(name)

    def get(self, name: str) -> Any:
        """The generator called ``name``; a shipped one is loaded (and verified) the first time."""
        if name not in self._models:
            self._models[name] = pretrained.load(name)
        return self._models[name]

    def dataset_of(self, name: str) -> str:
        """The data set ``name`` was trained on: as registered, or from its checkpoint's sidecar."""
        if name not in self._datasets:
            self._datasets[name] = str(_sidecar(name).get("data_fingerprint", "")).split(":")[0]
        return self._datasets[name]

    def directions(self, key: tuple, find: Callable[[], Directions]) -> Directions:
        """The directions kept under ``key`` (whose first item is the model name); ``find()`` the first time."""
        if key not in self._directions:
            self._directions[key] = find()
        return self._directions[key]

    def _forget_directions(self, name: str) -> None:
        for key in [k for k in self._directions if k[0] == name]:
            del self._directions[key]


SHELF = ModelShelf()


def generator_names() -> list[str]:
    """Names ``explorer`` can show: your registered models, then every shipped generator.

    A shipped model counts as a generator when its config has a ``latent_dim``
    (read from the checkpoint's sidecar, so nothing is loaded to decide).
    """
    return SHELF.names()


def register_model(name: str, model: Any, dataset: str | None = None) -> None:
    """Make your own generator (e.g. one you just trained) explorable under ``name``.

    ``dataset`` ("fashion-mnist" or "catalog") names its classes and default prompt.
    """
    SHELF.register(name, model, dataset)


def unregister_model(name: str) -> None:
    """Forget a model added with ``register_model`` (and its cached directions)."""
    SHELF.unregister(name)


def get_model(name: str) -> Any:
    """The generator called ``name``, loaded once and kept (shipped models are verified first)."""
    return SHELF.get(name)


def dataset_of(name: str) -> str:
    """The data set a model was trained on ("fashion-mnist", "catalog", ...), from its checkpoint."""
    return SHELF.dataset_of(name)


def condition_kind(model: Any) -> str:
    """"none", "label" or "description": what else the model needs besides z."""
    cond = getattr(model, "condition", None)
    return "none" if cond is None else cond.kind


def class_names(name: str) -> list[str]:
    """Class names of a label-conditioned model (or "class 0", "class 1", ...)."""
    model = get_model(name)
    n = getattr(getattr(model, "condition", None), "num_classes", 0)
    names = _CLASS_NAMES.get(dataset_of(name), ())
    return list(names) if len(names) == n else [f"class {i}" for i in range(n)]


def default_prompt(name: str) -> str:
    """The description a description-conditioned model starts with (one per data set)."""
    return _DEFAULT_PROMPTS.get(dataset_of(name), "a product")


# --------------------------------------------------------------------------------------------
# Designs: the condition a design's model needs, and the slider directions for it
# --------------------------------------------------------------------------------------------

def complete(design: Design) -> Design:
    """The design with the condition its model needs filled in (class 0 / the default prompt)."""
    kind = condition_kind(get_model(design.model))
    if kind == "label":
        return replace(design, label=design.label or 0, prompt=None)
    if kind == "description":
        return replace(design, label=None, prompt=design.prompt or default_prompt(design.model))
    return replace(design, label=None, prompt=None)


def condition_kwargs(design: Design, n: int) -> dict[str, Any]:
    """The ``labels=`` or ``prompts=`` argument of ``model.sample`` for n copies of the design's condition."""
    kind = condition_kind(get_model(design.model))
    if kind == "label":
        return {"labels": [int(design.label or 0)] * n}
    if kind == "description":
        return {"prompts": [design.prompt or default_prompt(design.model)] * n}
    return {}


def find_directions(design: Design, config: ExploreConfig = CONFIG) -> Directions:
    """The slider directions for a design's model and condition (cached; about half a second the first time).

    The model draws ``config.n_samples`` images from a fixed seed, with the
    design's class or description; PCA and attribute directions come from them
    (``latent.directions_from_samples``).
    """
    design = complete(design)
    key = (design.model, design.label, design.prompt, config.n_samples, config.n_pca, config.seed)
    return SHELF.directions(key, lambda: _sample_directions(design, config))


def _sample_directions(design: Design, config: ExploreConfig) -> Directions:
    """Draw the fixed sample of ``find_directions`` and find the directions in it."""
    model = get_model(design.model)
    z = torch.randn(config.n_samples, model.config.latent_dim, generator=torch.Generator().manual_seed(config.seed))
    images = torch.cat([model.sample(len(chunk), z=chunk, **condition_kwargs(design, len(chunk))).float().cpu()
                        for chunk in z.split(256)])
    return directions_from_samples(z, images, config.n_pca)


# --------------------------------------------------------------------------------------------
# Rendering, PNGs and metadata (the explorer's twins)
# --------------------------------------------------------------------------------------------

def design_latent(design: Design, config: ExploreConfig = CONFIG) -> torch.Tensor:
    """z (latent_dim,) of a design: its seed's z plus each slider offset times its direction."""
    model = get_model(design.model)
    z = seed_latent(model.config.latent_dim, design.seed)
    offsets = {k: v for k, v in design.offsets.items() if v}
    if offsets:
        dirs = find_directions(design, config)
        for name, amount in offsets.items():
            z = z + float(amount) * dirs.vector(name)
    return z


def render_latents(design: Design, z: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] for latents z (N, D), with the design's model and condition."""
    model = get_model(design.model)
    return model.sample(len(z), z=z, **condition_kwargs(design, len(z))).float().cpu()


def render(design: Design, config: ExploreConfig = CONFIG) -> torch.Tensor:
    """The design's image, (C, H, W) in [0, 1]: the plain-Python twin of the explorer."""
    return render_latents(design, design_latent(design, config)[None])[0]


def to_picture(images: torch.Tensor, scale: int = CONFIG.scale, ncols: int | None = None, pad: int = 0) -> np.ndarray:
    """Images as one uint8 (H, W, 3) picture, enlarged ``scale`` times (grey products shown dark on white)."""
    images = images[None] if images.dim() == 3 else images
    grid = image_grid(images.detach().cpu(), ncols=ncols or len(images), pad=pad)
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)


def png_bytes(images: torch.Tensor, scale: int = CONFIG.scale, ncols: int | None = None, pad: int = 0,
              metadata: dict[str, str] | None = None) -> bytes:
    """Images as PNG bytes, with ``metadata`` written as PNG text chunks."""
    info = PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.fromarray(to_picture(images, scale, ncols, pad)).save(buf, format="png", pnginfo=info, compress_level=1)
    return buf.getvalue()


def design_metadata(design: Design, config: ExploreConfig = CONFIG) -> dict[str, str]:
    """What a saved PNG records: model, seed, prompt or class, slider offsets, how directions were found."""
    design = complete(design)
    meta = {"Software": "pgan-kit", "model": design.model, "seed": str(design.seed),
            "offsets": json.dumps({k: float(v) for k, v in design.offsets.items()}),
            "directions": json.dumps({k: v for k, v in asdict(config).items() if k != "scale"})}
    if design.prompt is not None:
        meta["prompt"] = design.prompt
    if design.label is not None:
        meta["label"] = str(design.label)
        meta["class"] = class_names(design.model)[design.label]
    meta["Title"] = design.prompt or meta.get("class") or design.model
    return meta


def save_design(design: Design, path: str | Path, config: ExploreConfig = CONFIG) -> Path:
    """Write the design's image as a PNG, with the design and the provenance (``pgan_lib.provenance``:
    model, weights' sha256, seed, prompt or class, time, digital source type) in its metadata; returns the path."""
    meta = design_metadata(design, config)
    full = complete(design)
    prov = Provenance(model=full.model, checkpoint_sha256=pretrained.weights_sha256(full.model), seed=full.seed,
                      prompt=full.prompt, label=full.label, class_name=meta.get("class"))
    extra = {k: v for k, v in meta.items() if k != "Software"}
    return save_png_with_provenance(to_picture(render(design, config), config.scale), path, prov, extra_text=extra)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The text chunks of a PNG."""
    with Image.open(path) as img:
        return dict(getattr(img, "text", {}))  # PNG text chunks (PngImageFile.text)


def read_design(path: str | Path) -> Design:
    """The design saved in a PNG by ``save_design`` (render it to get the same product back)."""
    meta = read_metadata(path)
    if "model" not in meta or "seed" not in meta:
        raise ValueError(f"{path} was not saved by the latent explorer: it has no model/seed metadata")
    return Design(model=meta["model"], seed=int(meta["seed"]),
                  label=int(meta["label"]) if "label" in meta else None, prompt=meta.get("prompt"),
                  offsets={k: float(v) for k, v in json.loads(meta.get("offsets", "{}")).items()})


# --------------------------------------------------------------------------------------------
# Interpolation and attribute arithmetic
# --------------------------------------------------------------------------------------------

@contextmanager
def _blend_condition(a: Design, b: Design, t: torch.Tensor) -> Iterator[None]:
    """While active, the model's condition vector for design a becomes (1 - t) c_a + t c_b.

    Works for any model whose ``sample`` runs ``model.condition`` once on the
    inputs: a forward hook replaces the encoder's output.
    """
    model = get_model(a.model)
    enc = getattr(model, "condition", None)
    kw_a, kw_b = condition_kwargs(a, len(t)), condition_kwargs(b, len(t))
    if enc is None or kw_a == kw_b:
        yield
        return
    if enc.kind == "label":
        inputs = enc.inputs_from_labels(kw_b["labels"])
    else:
        inputs = enc.inputs_from_prompts(kw_b["prompts"])
    with torch.no_grad():
        c_b = enc(inputs.to(model.device))
    w = t.to(c_b)[:, None]
    handle = enc.register_forward_hook(lambda _mod, _inp, c_a: (1 - w) * c_a + w * c_b)
    try:
        yield
    finally:
        handle.remove()


def interpolate(a: Design, b: Design, steps: int = 8, method: str = "spherical",
                positions: Sequence[float] | torch.Tensor | None = None, config: ExploreConfig = CONFIG) -> torch.Tensor:
    """Images (steps, C, H, W) from design a to design b, both included.

    The latent moves along a straight line ("linear") or an arc ("spherical");
    when the two designs have different classes or descriptions, the condition
    vector moves along a straight line between them at the same time.
    ``positions`` (values of t in [0, 1]) replaces the evenly spaced steps.
    """
    if a.model != b.model:
        raise ValueError(f"both products must come from one model, got {a.model!r} and {b.model!r}")
    if method not in ("linear", "spherical"):
        raise ValueError(f"method {method!r}: use 'linear' or 'spherical'")
    t = torch.linspace(0, 1, steps) if positions is None else torch.as_tensor(positions, dtype=torch.float32).flatten()
    za, zb = design_latent(a, config), design_latent(b, config)
    z = lerp(za, zb, t) if method == "linear" else slerp(za, zb, t)
    with _blend_condition(a, b, t):
        return render_latents(a, z)


def attribute_row(design: Design, attribute: str = "darker", amounts: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3),
                  config: ExploreConfig = CONFIG) -> torch.Tensor:
    """Attribute arithmetic: z + a * direction for each amount a, e.g. "darker" = mean z(dark) - mean z(light).

    Returns images (len(amounts), C, H, W); amount 0 is the product itself.
    """
    z = design_latent(design, config)
    d = find_directions(design, config).vector(attribute)
    return render_latents(design, z + torch.tensor([float(a) for a in amounts])[:, None] * d)


# --------------------------------------------------------------------------------------------
# Static figures (for reading without widgets)
# --------------------------------------------------------------------------------------------

def rows_figure(rows: dict[str, torch.Tensor], column_titles: Sequence[str] | None = None,
                title: str | None = None, cell_inches: float = 0.7) -> Figure:
    """A matplotlib figure: one labelled strip of images per row."""
    # pyplot is imported when a figure is drawn, not with the library: importing it picks a
    # plotting backend, and the explorer's widgets and the PNG files do not need one.
    import matplotlib.pyplot as plt

    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), 1, squeeze=False,
                             figsize=(1.8 + ncols * cell_inches, 0.3 + len(rows) * cell_inches * 1.05))
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(image_grid(images.detach().cpu(), ncols=ncols))
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_ylabel("\n".join(textwrap.wrap(label, 26)), rotation=0, ha="right", va="center", fontsize=8.5)
    if column_titles:
        w = images.shape[-1]
        pad = 2
        axes[0, 0].set_xticks([pad + (w + pad) * j + w / 2 for j in range(len(column_titles))])
        axes[0, 0].set_xticklabels(column_titles, fontsize=8)
        axes[0, 0].xaxis.tick_top()
        axes[0, 0].tick_params(length=0)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def describe(design: Design, short: bool = False) -> str:
    """E.g. "cvae-fashion, seed 3, 'a dark slim ankle boot'" (without the model name when ``short``)."""
    design = complete(design)
    what = design.prompt if design.prompt is not None else (
        class_names(design.model)[design.label] if design.label is not None else "")
    text = f"seed {design.seed}" if short else f"{design.model}, seed {design.seed}"
    return text + (f", {what!r}" if what else "")


def explorer_figure(design: Design, values: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3),
                    config: ExploreConfig = CONFIG) -> Figure:
    """The explorer on paper: one row per slider, the product with that slider at each value."""
    dirs = find_directions(design, config)
    z = design_latent(design, config)
    steps = torch.tensor([float(v) for v in values])[:, None]
    rows = {label: render_latents(design, z + steps * dirs.vectors[i]) for i, label in enumerate(dirs.labels)}
    return rows_figure(rows, [f"{v:+g}" for v in values], f"each slider from {values[0]:+g} to {values[-1]:+g}: "
                       + describe(design))


def interpolation_figure(a: Design, b: Design, steps: int = 9, config: ExploreConfig = CONFIG) -> Figure:
    """Linear and spherical interpolation from a to b, one row each."""
    rows = {m: interpolate(a, b, steps, m, config=config) for m in ("linear", "spherical")}
    titles = [f"{t:.2g}" for t in torch.linspace(0, 1, steps).tolist()]
    return rows_figure(rows, titles, f"from ({describe(a)}) to ({describe(b)})")


def attribute_figure(designs: Sequence[Design], attribute: str = "darker",
                     amounts: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3), config: ExploreConfig = CONFIG) -> Figure:
    """Attribute arithmetic for several products: one row each, z + a * direction."""
    rows = {describe(d, short=True): attribute_row(d, attribute, amounts, config) for d in designs}
    return rows_figure(rows, [f"{a:+g}" for a in amounts], f"z + a * ({attribute} direction)")


__all__ = [
    "CONFIG", "DEFAULT_MODEL", "SHELF", "Design", "ExploreConfig", "ModelShelf", "attribute_figure",
    "attribute_row", "class_names", "complete", "condition_kind", "condition_kwargs", "dataset_of",
    "default_prompt", "describe", "design_latent", "design_metadata", "explorer_figure", "find_directions",
    "generator_names", "get_model", "interpolate", "interpolation_figure", "png_bytes", "read_design",
    "read_metadata", "register_model", "render", "render_latents", "rows_figure", "save_design", "to_picture",
    "unregister_model",
]
