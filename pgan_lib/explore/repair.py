"""Place a hole, watch the repair: the box widget of notebook 07 and its plain-Python twin.

``repair_box(model, image, x, y, w, h, prompt)`` is the whole computation: it
builds the box mask, damages the image and repairs it, and returns
(damaged, repaired). ``RepairBox`` puts four sliders (and a description box for
a guided model) on top of it; moving a slider calls ``repair_box`` again, so a
test of the twin is a test of what the widget shows.
"""
from __future__ import annotations

import io
from typing import Any

import torch
from PIL import Image

from ..data.masks import box_mask, damage


def repair_box(model: Any, image: torch.Tensor, x: int, y: int, w: int, h: int,
               prompt: str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(damaged, repaired, mask) for one image (C, H, W) in [0, 1] and the box (x, y, w, h) in pixels."""
    size = image.shape[-1]
    mask = box_mask(size, x, y, w, h)
    if mask.sum() >= mask.numel():
        raise ValueError("the box covers the whole image: there is nothing left to repair from")
    img = image[None].float()
    prompts = [prompt] if getattr(model, "condition", None) is not None else None
    repaired = model.repair(img, mask, prompts=prompts)
    return damage(img, mask)[0], repaired[0], mask[0]


def _png(images: torch.Tensor, scale: int = 6) -> bytes:
    row = torch.cat(list(images), -1)                                   # (C, H, n * W)
    arr = (row.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        arr = 255 - arr[:, :, 0]                                        # grey photos: dark on white
    im = Image.fromarray(arr).resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


class RepairBox:
    """Sliders for a box hole over one image; shows damaged | repaired | original side by side."""

    def __init__(self, model: Any, image: torch.Tensor, box: tuple[int, int, int, int] | None = None,
                 prompt: str = "", scale: int = 6) -> None:
        import ipywidgets as wd  # only when a widget is built: the twin works without ipywidgets

        self.model, self.image, self.scale = model, image.float(), scale
        size = image.shape[-1]
        x, y, w, h = box or (size // 4, size // 4, size // 2, size // 2)
        self.sliders = {name: wd.IntSlider(value=v, min=lo, max=size - 1 if name in "xy" else size,
                                           description=name, continuous_update=False)
                        for name, v, lo in (("x", x, 0), ("y", y, 0), ("w", w, 1), ("h", h, 1))}
        guided = getattr(model, "condition", None) is not None
        self.prompt = wd.Text(value=prompt, description="describe", layout=wd.Layout(width="420px")) if guided else None
        self.picture = wd.Image(format="png")
        self.status = wd.Label()
        controls = list(self.sliders.values()) + ([self.prompt] if self.prompt is not None else [])
        for c in controls:
            c.observe(self._update, names="value")
        self.box = wd.VBox([wd.HBox(controls[:2]), wd.HBox(controls[2:4]), *controls[4:], self.picture, self.status])
        self._update()

    @property
    def values(self) -> tuple[int, int, int, int]:
        return tuple(self.sliders[k].value for k in "xywh")

    def set(self, **values: int) -> None:
        """Move sliders from code, e.g. ``widget.set(x=3, w=10)`` (what dragging them does)."""
        for k, v in values.items():
            self.sliders[k].value = v

    def _update(self, change: Any = None) -> None:
        prompt = self.prompt.value if self.prompt is not None else None
        try:
            damaged, repaired, mask = repair_box(self.model, self.image, *self.values, prompt=prompt)
        except ValueError as err:
            self.status.value = f"cannot repair: {err}"
            return
        self.last = repaired
        self.picture.value = _png(torch.stack([damaged, repaired, self.image]), self.scale)
        self.status.value = f"hole of {int(mask.sum())} pixels; left to right: damaged, repaired, original"

    def _ipython_display_(self) -> None:
        from IPython.display import display  # only inside a notebook

        display(self.box)


__all__ = ["repair_box", "RepairBox"]
