"""The explorer's widgets: sliders, buttons and images that redraw a product as you move them.

Every widget has a plain-Python twin in ``design`` that returns the image or the figure:

    widget                        twin
    explorer()                    render(design), explorer_figure(design)
    interpolation_widget(a, b)    interpolate(a, b, ...), interpolation_figure(a, b)
    attribute_widget(design)      attribute_row(design, ...), attribute_figure(designs)

In a viewer that cannot run widgets (a static notebook page), each widget shows
a still image instead.
"""
from __future__ import annotations

import base64
import html
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from .design import (
    CONFIG,
    DEFAULT_MODEL,
    Design,
    ExploreConfig,
    attribute_row,
    class_names,
    complete,
    condition_kind,
    default_prompt,
    describe,
    find_directions,
    generator_names,
    get_model,
    interpolate,
    png_bytes,
    render,
    save_design,
)
from .latent import ATTRIBUTES, attribute_scores


def _ipywidgets() -> ModuleType:
    """The ipywidgets module."""
    # Imported on first use, not with the module: the library, its plain-Python twins and
    # their tests must import and run where ipywidgets is not installed.
    import ipywidgets

    return ipywidgets


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


def random_seed() -> int:
    """A new seed for the **randomise** button: a new product."""
    return random.randrange(100_000)


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


# --------------------------------------------------------------------------------------------
# The latent explorer
# --------------------------------------------------------------------------------------------

class LatentExplorer(_Shown):
    """The latent explorer: model, class or description, seed, one slider per direction, image, save.

    ``explorer.design`` is what is on screen; ``explorer.image.value`` its PNG bytes.
    """

    def __init__(self, design: Design | None = None, config: ExploreConfig = CONFIG,
                 save_dir: str | Path = "runs/designs") -> None:
        w = _ipywidgets()
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
        text = html.escape(describe(self._design))
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


# --------------------------------------------------------------------------------------------
# Interpolation and attribute arithmetic
# --------------------------------------------------------------------------------------------

class InterpolationWidget(_Shown):
    """Two products, a strip of in-between images, and a slider for the position between them."""

    def __init__(self, a: Design, b: Design, steps: int = 8, config: ExploreConfig = CONFIG) -> None:
        w = _ipywidgets()
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
        w = _ipywidgets()
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
    "AttributeWidget", "InterpolationWidget", "LatentExplorer", "attribute_widget", "explorer",
    "interpolation_widget", "one_thread", "random_seed",
]
