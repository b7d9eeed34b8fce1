"""Latent exploration: move sliders and watch a generator's product change.

A generator turns a latent vector z (and, for a conditional model, a class or a
description) into an image. This module lets you walk around in z:

- **directions**: which way to move z. Two kinds, both found from a fixed
  sample of 1,024 images the model draws itself (see ``find_directions``):

  * ``pc1`` ... ``pc4`` -- image PCA mapped back to the latent (the GANSpace
    idea). PCA of the latents themselves would find nothing: z ~ N(0, I) has the
    same spread in every direction. So we take the principal components of the
    *images* and, for each one, the latent direction that goes with it
    (the covariance of z with that component's score).
  * ``darker`` and ``wider`` -- attribute differences: the mean latent of the
    darkest third of the sampled products minus the mean latent of the
    lightest third, measured by ``shade_value``, the rule that writes "dark"
    and "light" into the kit's descriptions (``wider``: the same with
    ``width_value``, the rule behind "slim" and "wide").

  Each direction has unit length, so a slider value of 1 moves z by one
  standard deviation of the prior N(0, I).
- **designs**: a product is a ``Design`` (model, seed, class or description,
  slider offsets); ``render(design)`` draws it and ``save_design`` writes a PNG
  with the design in its metadata, which ``read_design`` turns back into the
  same product.
- **interpolation** between two designs, linear or spherical (``interpolate``).
- **attribute arithmetic**: z + a * (dark - light), shown as a row (``attribute_row``).

Every widget has a plain-Python twin that returns the image or the figure:

    widget                        twin
    explorer()                    render(design), explorer_figure(design)
    interpolation_widget(a, b)    interpolate(a, b, ...), interpolation_figure(a, b)
    attribute_widget(design)      attribute_row(design, ...), attribute_figure(designs)

Works with any kit generator: ``model.sample(n, labels=None, prompts=None,
seed=None, z=None)`` returning images in [0, 1], ``model.config.latent_dim``, and
an optional ``model.condition`` whose ``kind`` is "label" or "description".
"""
from __future__ import annotations

import base64
import html
import io
import json
import random
import textwrap
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from . import pretrained
from .data.attributes import shade_value, width_value
from .viz import image_grid

DEFAULT_MODEL = "vae-fashion"
ATTRIBUTES = ("darker", "wider")


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


# --------------------------------------------------------------------------------------------
# Models: the shipped generators, plus any model you register yourself
# --------------------------------------------------------------------------------------------

_MODELS: dict[str, Any] = {}           # name -> loaded generator
_DATASETS: dict[str, str] = {}         # name -> data set it was trained on
_DIRECTIONS: dict[tuple, "Directions"] = {}   # (name, label, prompt, sample settings) -> its directions
_CLASS_NAMES = {
    "fashion-mnist": ("t-shirt", "trouser", "pullover", "dress", "coat",
                      "sandal", "shirt", "sneaker", "bag", "ankle boot"),
    "catalog": ("t-shirt", "trousers", "dress", "sneaker", "handbag", "mug"),
}
_DEFAULT_PROMPTS = {"fashion-mnist": "a medium regular ankle boot", "catalog": "a red striped mug"}


def _sidecar(name: str) -> dict:
    path = pretrained.path_of(name).with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def generator_names() -> list[str]:
    """Names ``explorer`` can show: your registered models, then every shipped generator.

    A shipped model counts as a generator when its config has a ``latent_dim``
    (read from the checkpoint's sidecar, so nothing is loaded to decide).
    """
    shipped = [n for n in sorted(pretrained.SHIPPED)
               if "latent_dim" in _sidecar(n).get("config", {}) and pretrained.available(n)]
    return list(_MODELS) + [n for n in shipped if n not in _MODELS]


def register_model(name: str, model: Any, dataset: str | None = None) -> None:
    """Make your own generator (e.g. one you just trained) explorable under ``name``.

    ``dataset`` ("fashion-mnist" or "catalog") names its classes and default prompt.
    """
    _MODELS[name] = model.eval()
    if dataset:
        _DATASETS[name] = dataset
    for key in [k for k in _DIRECTIONS if k[0] == name]:
        del _DIRECTIONS[key]


def unregister_model(name: str) -> None:
    """Forget a model added with ``register_model`` (and its cached directions)."""
    _MODELS.pop(name, None)
    _DATASETS.pop(name, None)
    for key in [k for k in _DIRECTIONS if k[0] == name]:
        del _DIRECTIONS[key]


def get_model(name: str) -> Any:
    """The generator called ``name``, loaded once and kept (shipped models are verified first)."""
    if name not in _MODELS:
        _MODELS[name] = pretrained.load(name)
    return _MODELS[name]


def dataset_of(name: str) -> str:
    """The data set a model was trained on ("fashion-mnist", "catalog", ...), from its checkpoint."""
    if name not in _DATASETS:
        _DATASETS[name] = str(_sidecar(name).get("data_fingerprint", "")).split(":")[0]
    return _DATASETS[name]


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
    return _DEFAULT_PROMPTS.get(dataset_of(name), "a product")


# --------------------------------------------------------------------------------------------
# Designs: one product = model + seed + condition + slider offsets
# --------------------------------------------------------------------------------------------

@dataclass
class Design:
    """One product: which model, which seed, which class or description, and the slider offsets."""

    model: str = DEFAULT_MODEL
    seed: int = 0
    label: int | None = None
    prompt: str | None = None
    offsets: dict[str, float] = field(default_factory=dict)

    def with_offsets(self, **offsets: float) -> "Design":
        """A copy with some slider offsets changed, e.g. ``design.with_offsets(darker=2.0)``."""
        return replace(self, offsets={**self.offsets, **offsets})


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


def seed_latent(latent_dim: int, seed: int) -> torch.Tensor:
    """z (latent_dim,) for a seed: the same z that ``model.sample(1, seed=seed)`` draws."""
    return torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(int(seed)))[0]


def random_seed() -> int:
    return random.randrange(100_000)


# --------------------------------------------------------------------------------------------
# Directions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Directions:
    """Unit latent directions, one per slider."""

    names: tuple[str, ...]       # "pc1", ..., "darker", "wider"
    labels: tuple[str, ...]      # slider captions
    vectors: torch.Tensor        # (len(names), latent_dim), each of length 1

    def vector(self, name: str) -> torch.Tensor:
        if name not in self.names:
            raise ValueError(f"unknown direction {name!r}; this model has {', '.join(self.names)}")
        return self.vectors[self.names.index(name)]


def image_ink(images: torch.Tensor) -> torch.Tensor:
    """Images as "ink" (N, 1, H, W): Fashion-MNIST's grey values as they are, 1 - brightness for colour."""
    if images.shape[1] == 1:
        return images
    return 1.0 - images.mean(1, keepdim=True)


def attribute_scores(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image scores (N,) behind the attribute directions: darkness and width."""
    ink = image_ink(images.float().cpu())
    return {"darker": shade_value(ink), "wider": width_value(ink)}


def attribute_direction(z: torch.Tensor, score: torch.Tensor, fraction: float = 1 / 3) -> torch.Tensor:
    """Unit direction: mean z of the top ``fraction`` by score minus mean z of the bottom ``fraction``."""
    order = score.argsort()
    k = max(1, int(len(score) * fraction))
    diff = z[order[-k:]].mean(0) - z[order[:k]].mean(0)
    return diff / diff.norm().clamp(min=1e-8)


def image_pca_directions(z: torch.Tensor, images: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent directions (k, D) that go with the k leading principal components of the images.

    For component j with per-image score s_j, the direction is cov(z, s_j),
    normalised: the way z moves, on average, when the image moves along the
    component. Signs are chosen so that positive scores go with more ink.
    Also returns each component's share of the image variance (k,).
    """
    x = images.float().cpu().flatten(1)
    x = x - x.mean(0)
    # The leading components by randomised SVD (much faster than a full SVD), from a fixed
    # random start so the same images always give the same directions.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _, s, v = torch.pca_lowrank(x, q=min(k + 8, *x.shape), center=False, niter=4)
    scores = x @ v[:, :k]                                   # (N, k): each image's score on each component
    # A component's sign is arbitrary: choose it so that positive means more ink (darker or bigger).
    ink = image_ink(images.float().cpu()).flatten(1).sum(1)
    scores = scores * torch.where((scores * (ink - ink.mean())[:, None]).sum(0) < 0, -1.0, 1.0)
    zc = z - z.mean(0)
    dirs = (zc.T @ scores).T                                # (k, D): covariance of z with each score, times N
    dirs = dirs / dirs.norm(dim=1, keepdim=True).clamp(min=1e-8)
    share = s[:k] ** 2 / x.pow(2).sum()                     # share of the total image variance
    return dirs, share


def find_directions(design: Design, config: ExploreConfig = CONFIG) -> Directions:
    """The slider directions for a design's model and condition (cached; about half a second the first time).

    The model draws ``config.n_samples`` images from a fixed seed, with the
    design's class or description; PCA and attribute directions come from them.
    """
    design = complete(design)
    key = (design.model, design.label, design.prompt, config.n_samples, config.n_pca, config.seed)
    if key in _DIRECTIONS:
        return _DIRECTIONS[key]
    model = get_model(design.model)
    z = torch.randn(config.n_samples, model.config.latent_dim, generator=torch.Generator().manual_seed(config.seed))
    images = torch.cat([model.sample(len(chunk), z=chunk, **condition_kwargs(design, len(chunk))).float().cpu()
                        for chunk in z.split(256)])
    pcs, share = image_pca_directions(z, images, config.n_pca)
    scores = attribute_scores(images)
    vectors = torch.cat([pcs, torch.stack([attribute_direction(z, scores[a]) for a in ATTRIBUTES])])
    names = tuple(f"pc{j + 1}" for j in range(config.n_pca)) + ATTRIBUTES
    labels = tuple(f"PC {j + 1} ({100 * v:.0f}%)" for j, v in enumerate(share.tolist())) + ("darker", "wider")
    _DIRECTIONS[key] = Directions(names, labels, vectors)
    return _DIRECTIONS[key]


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
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

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
    """Write the design's image as a PNG, with the design in its metadata; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(render(design, config), config.scale, metadata=design_metadata(design, config)))
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The text chunks of a PNG."""
    from PIL import Image

    with Image.open(path) as img:
        return dict(img.text)


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

def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: (1 - t) a + t b, for each t; a, b (D,), t (N,) -> (N, D)."""
    t = t[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Along the great circle from a to b (spherical interpolation); a, b (D,), t (N,) -> (N, D).

    Gaussian latents lie near a sphere of radius sqrt(D); the midpoint of a
    straight line is shorter than that (about sqrt(D/2) for independent a, b), a
    z the generator seldom saw. The arc keeps the length typical.
    """
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:
        return lerp(a, b, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


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
                title: str | None = None, cell_inches: float = 0.7):
    """A matplotlib figure: one labelled strip of images per row."""
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
        h, w = images.shape[-2:]
        pad = 2
        axes[0, 0].set_xticks([pad + (w + pad) * j + w / 2 for j in range(len(column_titles))])
        axes[0, 0].set_xticklabels(column_titles, fontsize=8)
        axes[0, 0].xaxis.tick_top()
        axes[0, 0].tick_params(length=0)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _describe(design: Design, short: bool = False) -> str:
    """E.g. "cvae-fashion, seed 3, 'a dark slim ankle boot'" (without the model name when ``short``)."""
    design = complete(design)
    what = design.prompt if design.prompt is not None else (
        class_names(design.model)[design.label] if design.label is not None else "")
    text = f"seed {design.seed}" if short else f"{design.model}, seed {design.seed}"
    return text + (f", {what!r}" if what else "")


def explorer_figure(design: Design, values: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3),
                    config: ExploreConfig = CONFIG):
    """The explorer on paper: one row per slider, the product with that slider at each value."""
    dirs = find_directions(design, config)
    z = design_latent(design, config)
    steps = torch.tensor([float(v) for v in values])[:, None]
    rows = {label: render_latents(design, z + steps * dirs.vectors[i]) for i, label in enumerate(dirs.labels)}
    return rows_figure(rows, [f"{v:+g}" for v in values], f"each slider from {values[0]:+g} to {values[-1]:+g}: "
                       + _describe(design))


def interpolation_figure(a: Design, b: Design, steps: int = 9, config: ExploreConfig = CONFIG):
    """Linear and spherical interpolation from a to b, one row each."""
    rows = {m: interpolate(a, b, steps, m, config=config) for m in ("linear", "spherical")}
    titles = [f"{t:.2g}" for t in torch.linspace(0, 1, steps).tolist()]
    return rows_figure(rows, titles, f"from ({_describe(a)}) to ({_describe(b)})")


def attribute_figure(designs: Sequence[Design], attribute: str = "darker",
                     amounts: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3), config: ExploreConfig = CONFIG):
    """Attribute arithmetic for several products: one row each, z + a * direction."""
    rows = {_describe(d, short=True): attribute_row(d, attribute, amounts, config) for d in designs}
    return rows_figure(rows, [f"{a:+g}" for a in amounts], f"z + a * ({attribute} direction)")


# --------------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------------

@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread for a moment: one small image is fastest that way.

    With several threads, each tiny layer is split up and the threads wait for one
    another; on a busy machine that wait can take longer than the work itself.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Shown:
    """A widget panel that displays as its live widget, with a still image for static viewers."""

    box: Any

    def still(self) -> bytes:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        data = self.box._repr_mimebundle_(**kwargs)
        data["text/plain"] = f"{type(self).__name__}: a live widget; run the notebook in Jupyter to use it."
        data["image/png"] = base64.b64encode(self.still()).decode("ascii")
        return data


class LatentExplorer(_Shown):
    """The latent explorer: model, class or description, seed, one slider per direction, image, save.

    ``explorer.design`` is what is on screen; ``explorer.image.value`` its PNG bytes.
    """

    def __init__(self, design: Design | None = None, config: ExploreConfig = CONFIG,
                 save_dir: str | Path = "runs/designs") -> None:
        import ipywidgets as w

        self.config = config
        self.save_dir = Path(save_dir)
        self._design = complete(design or Design())
        self._quiet = False
        names = generator_names()
        if self._design.model not in names:
            names.insert(0, self._design.model)
        r = config.slider_range
        self.model = w.Dropdown(options=names, value=self._design.model, description="model")
        self.label = w.Dropdown(options=[("-", 0)], description="class")
        self.prompt = w.Text(description="description", continuous_update=False,
                             layout=w.Layout(width="340px"))
        self.seed = w.BoundedIntText(value=self._design.seed, min=0, max=2 ** 31 - 1, description="seed",
                                     layout=w.Layout(width="170px"))
        self.randomise = w.Button(description="randomise", icon="random", tooltip="a new seed: a new product")
        self.reset = w.Button(description="reset sliders", icon="undo")
        self.save = w.Button(description="save image", icon="save", tooltip=f"PNG into {self.save_dir}/")
        n_sliders = config.n_pca + len(ATTRIBUTES)
        self.sliders = [w.FloatSlider(value=0.0, min=-r, max=r, step=0.1, readout_format="+.1f",
                                      continuous_update=True, layout=w.Layout(width="360px"),
                                      style={"description_width": "110px"}) for _ in range(n_sliders)]
        self.image = w.Image(format="png")
        self.status = w.HTML()
        self.box = w.VBox([
            w.HBox([self.model, self.label, self.prompt]),
            w.HBox([self.seed, self.randomise, self.reset, self.save]),
            w.HBox([w.VBox(self.sliders), self.image]),
            self.status,
        ])
        self.box.add_class("pgan-explorer")
        self.model.observe(self._on_model, names="value")
        self.label.observe(self._on_condition, names="value")
        self.prompt.observe(self._on_condition, names="value")
        self.seed.observe(self._on_change, names="value")
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.randomise.on_click(lambda _: setattr(self.seed, "value", random_seed()))
        self.reset.on_click(lambda _: self._set_sliders({}))
        self.save.on_click(lambda _: self.save_image())
        self._load_model(self._design)

    # -- state ------------------------------------------------------------------------------
    @property
    def design(self) -> Design:
        """The product on screen."""
        return self._design

    def set(self, **offsets: float) -> None:
        """Move sliders by name, e.g. ``ex.set(pc1=1.5, darker=-2)`` (as if you dragged them)."""
        for name, value in offsets.items():
            self.sliders[self.directions.names.index(name)].value = value

    def _set_sliders(self, offsets: dict[str, float]) -> None:
        self._quiet = True
        for name, s in zip(self.directions.names, self.sliders):
            s.value = offsets.get(name, 0.0)
        self._quiet = False
        self._on_change()

    def _load_model(self, design: Design) -> None:
        """Show the right condition control for the model, find its directions, draw."""
        self._quiet = True
        kind = condition_kind(get_model(design.model))
        self.label.layout.display = "" if kind == "label" else "none"
        self.prompt.layout.display = "" if kind == "description" else "none"
        if kind == "label":
            self.label.options = [(n, i) for i, n in enumerate(class_names(design.model))]
            self.label.value = design.label or 0
        if kind == "description":
            self.prompt.value = design.prompt or default_prompt(design.model)
        self._quiet = False
        self._design = complete(design)
        self._new_directions()

    def _new_directions(self) -> None:
        self.directions = find_directions(self._design, self.config)
        self._quiet = True
        for s, label in zip(self.sliders, self.directions.labels):
            s.description = label
        self._quiet = False
        self._set_sliders(self._design.offsets)

    def _read_design(self) -> Design:
        kind = condition_kind(get_model(self.model.value))
        return Design(
            model=self.model.value, seed=int(self.seed.value),
            label=int(self.label.value) if kind == "label" else None,
            prompt=self.prompt.value.strip() if kind == "description" else None,
            offsets={n: float(s.value) for n, s in zip(self.directions.names, self.sliders) if s.value},
        )

    # -- events -----------------------------------------------------------------------------
    def _on_model(self, change: dict) -> None:
        self._load_model(Design(model=change["new"], seed=int(self.seed.value)))

    def _on_condition(self, change: dict) -> None:
        if self._quiet:
            return
        if condition_kind(get_model(self.model.value)) == "description" and not self.prompt.value.strip():
            self.status.value = "<b>Type a description</b>, e.g. 'a dark slim ankle boot'."
            return
        self._design = replace(self._read_design(), offsets={})
        self._new_directions()

    def _on_change(self, change: dict | None = None) -> None:
        """A slider or the seed moved: draw the new product (the fast path, a few milliseconds)."""
        if self._quiet:
            return
        self._design = self._read_design()
        with one_thread():
            image = render(self._design, self.config)
        self.image.value = png_bytes(image, self.config.scale)
        self.status.value = self._status_text()

    def _status_text(self, extra: str = "") -> str:
        text = html.escape(_describe(self._design))
        model = get_model(self._design.model)
        tok = getattr(getattr(model, "condition", None), "tokenizer", None)
        if tok is not None and self._design.prompt:
            unknown = tok.unknown_words(self._design.prompt)
            if unknown:
                text += f" &mdash; words the model does not know: {html.escape(', '.join(unknown))}"
        return f"<span style='font-size: 90%'>{text}{extra}</span>"

    def save_image(self, path: str | Path | None = None) -> Path:
        """Save what is on screen as a PNG with its design in the metadata (default: a new file in save_dir)."""
        out = save_design(self._design, path or self._new_path(), self.config)
        self.status.value = self._status_text(f" &mdash; saved {html.escape(str(out))}")
        return out

    def _new_path(self) -> Path:
        """E.g. runs/designs/cvae-fashion-seed3-a-dark-slim-ankle-boot-1.png (the first number not yet used)."""
        d = self._design
        what = d.prompt or (class_names(d.model)[d.label] if d.label is not None else "")
        words = "".join(c if c.isalnum() else "-" for c in what.lower()).strip("-")
        stem = "-".join(part for part in (d.model, f"seed{d.seed}", words[:40]) if part)
        i = 1
        while (self.save_dir / f"{stem}-{i}.png").exists():
            i += 1
        return self.save_dir / f"{stem}-{i}.png"

    def still(self) -> bytes:
        return self.image.value


def explorer(model: str = DEFAULT_MODEL, seed: int = 0, label: int | None = None, prompt: str | None = None,
             config: ExploreConfig = CONFIG, save_dir: str | Path = "runs/designs") -> LatentExplorer:
    """The latent explorer widget (twin: ``render(Design(...))`` and ``explorer_figure``)."""
    return LatentExplorer(Design(model, seed, label, prompt), config, save_dir)


class InterpolationWidget(_Shown):
    """Two products, a strip of in-between images, and a slider for the position between them."""

    def __init__(self, a: Design, b: Design, steps: int = 8, config: ExploreConfig = CONFIG) -> None:
        import ipywidgets as w

        self.a, self.b, self.steps, self.config = complete(a), complete(b), steps, config
        self.seed_a = w.BoundedIntText(value=self.a.seed, min=0, max=2 ** 31 - 1, description="seed A",
                                       layout=w.Layout(width="170px"))
        self.seed_b = w.BoundedIntText(value=self.b.seed, min=0, max=2 ** 31 - 1, description="seed B",
                                       layout=w.Layout(width="170px"))
        self.method = w.ToggleButtons(options=["spherical", "linear"], value="spherical")
        self.position = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="position")
        self.image = w.Image(format="png")
        self.strip = w.Image(format="png")
        self.box = w.VBox([w.HBox([self.seed_a, self.seed_b, self.method]),
                           w.HBox([self.position, self.image]), self.strip])
        for control in (self.seed_a, self.seed_b, self.method):
            control.observe(self._on_ends, names="value")
        self.position.observe(self._on_position, names="value")
        self._on_ends()

    def _ends(self) -> tuple[Design, Design]:
        return replace(self.a, seed=int(self.seed_a.value)), replace(self.b, seed=int(self.seed_b.value))

    def _on_ends(self, change: dict | None = None) -> None:
        a, b = self._ends()
        self.strip.value = png_bytes(interpolate(a, b, self.steps, self.method.value, config=self.config),
                                     scale=3, pad=2)
        self._on_position()

    def _on_position(self, change: dict | None = None) -> None:
        a, b = self._ends()
        with one_thread():
            img = interpolate(a, b, method=self.method.value, positions=[self.position.value], config=self.config)
        self.image.value = png_bytes(img, scale=self.config.scale // 2)

    def still(self) -> bytes:
        return self.strip.value


def interpolation_widget(a: Design, b: Design, steps: int = 8, config: ExploreConfig = CONFIG) -> InterpolationWidget:
    """Interpolation between two designs (twin: ``interpolate`` and ``interpolation_figure``)."""
    return InterpolationWidget(a, b, steps, config)


class AttributeWidget(_Shown):
    """Attribute arithmetic on one product: choose the seed, the attribute and how far to go."""

    def __init__(self, design: Design, attribute: str = "darker", config: ExploreConfig = CONFIG) -> None:
        import ipywidgets as w

        self.design, self.config = complete(design), config
        self.seed = w.BoundedIntText(value=self.design.seed, min=0, max=2 ** 31 - 1, description="seed",
                                     layout=w.Layout(width="170px"))
        self.attribute = w.ToggleButtons(options=list(ATTRIBUTES), value=attribute)
        self.reach = w.FloatSlider(value=3.0, min=0.5, max=config.slider_range * 2, step=0.5, description="reach")
        self.row = w.Image(format="png")
        self.caption = w.HTML()
        self.box = w.VBox([w.HBox([self.seed, self.attribute, self.reach]), self.row, self.caption])
        for control in (self.seed, self.attribute, self.reach):
            control.observe(self._update, names="value")
        self._update()

    def _update(self, change: dict | None = None) -> None:
        design = replace(self.design, seed=int(self.seed.value))
        amounts = np.linspace(-self.reach.value, self.reach.value, 7).round(2).tolist()
        images = attribute_row(design, self.attribute.value, amounts, self.config)
        self.row.value = png_bytes(images, scale=4, pad=2)
        shade = attribute_scores(images)["darker" if self.attribute.value == "darker" else "wider"]
        self.caption.value = "a = " + " | ".join(f"{a:+g}: {s:.2f}" for a, s in zip(amounts, shade.tolist())) + \
            f" &nbsp; ({'shade value' if self.attribute.value == 'darker' else 'width value'} of each image)"

    def still(self) -> bytes:
        return self.row.value


def attribute_widget(design: Design, attribute: str = "darker", config: ExploreConfig = CONFIG) -> AttributeWidget:
    """Attribute arithmetic on one product (twin: ``attribute_row`` and ``attribute_figure``)."""
    return AttributeWidget(design, attribute, config)


__all__ = [
    "ATTRIBUTES", "CONFIG", "Design", "Directions", "ExploreConfig", "LatentExplorer", "InterpolationWidget",
    "AttributeWidget", "attribute_direction", "attribute_figure", "attribute_row", "attribute_scores",
    "attribute_widget", "complete", "design_latent", "explorer", "explorer_figure", "find_directions",
    "generator_names", "get_model", "image_pca_directions", "interpolate", "interpolation_figure",
    "interpolation_widget", "lerp", "one_thread", "png_bytes", "read_design", "read_metadata", "register_model", "render",
    "unregister_model",
    "rows_figure", "save_design", "seed_latent", "slerp",
]
