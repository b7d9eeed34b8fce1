"""Place or paint a hole, watch the repair: the widgets of notebook 07 and their plain-Python twins.

``repair_box(model, image, x, y, w, h, prompt)`` is the whole computation of the
box widget: it builds the box mask, damages the image and repairs it, and
returns (damaged, repaired, mask). ``RepairBox`` puts four sliders (and a
description box for a guided model) on top of it; moving a slider calls
``repair_box`` again, so a test of the twin is a test of what the widget shows.

``repair_painted(model, image, points, radius, prompt)`` is the same for a hole
painted with a round brush: the mask is every pixel within ``radius`` of a
painted point. ``RepairCanvas`` is a drawing canvas (ipycanvas) on top of it:
drag over the photo to paint, let go to repair.
"""
from __future__ import annotations

import io
from typing import Any

import torch
from PIL import Image

from ..data.masks import box_mask, damage


def repair_mask(model: Any, image: torch.Tensor, mask: torch.Tensor,
                prompt: str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(damaged, repaired, mask) for one image (C, H, W) in [0, 1] and a mask (1, 1, H, W), 1 = missing."""
    if mask.sum() == 0:
        raise ValueError("the hole is empty: paint or place one first")
    if mask.sum() >= mask.numel():
        raise ValueError("the hole covers the whole image: there is nothing left to repair from")
    img = image[None].float()
    prompts = [prompt] if getattr(model, "condition", None) is not None else None
    repaired = model.repair(img, mask, prompts=prompts)
    return damage(img, mask)[0], repaired[0], mask[0]


def repair_box(model: Any, image: torch.Tensor, x: int, y: int, w: int, h: int,
               prompt: str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(damaged, repaired, mask) for one image (C, H, W) in [0, 1] and the box (x, y, w, h) in pixels."""
    return repair_mask(model, image, box_mask(image.shape[-1], x, y, w, h), prompt)


def paint_mask(size: int, points: list[tuple[float, float]], radius: float) -> torch.Tensor:
    """A (1, 1, size, size) mask: 1 on every pixel whose centre is within ``radius`` of a painted point.

    Points are (x, y) in image pixels (x to the right, y down), as a brush dragged over the photo leaves them.
    """
    mask = torch.zeros(1, 1, size, size)
    if not points:
        return mask
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")          # (size, size) each
    pts = torch.tensor(points, dtype=torch.float32)                   # (P, 2)
    d2 = (xx[None] - pts[:, 0, None, None]) ** 2 + (yy[None] - pts[:, 1, None, None]) ** 2   # (P, size, size)
    mask[0, 0] = (d2 <= radius ** 2).any(0).float()
    return mask


def repair_painted(model: Any, image: torch.Tensor, points: list[tuple[float, float]], radius: float,
                   prompt: str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(damaged, repaired, mask) for a hole painted with a round brush of ``radius`` pixels through ``points``."""
    return repair_mask(model, image, paint_mask(image.shape[-1], points, radius), prompt)


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


class RepairCanvas:
    """A drawing canvas over one photo: drag to paint a hole, let go to see the repair.

    The canvas shows the photo enlarged ``scale`` times; painted pixels turn red. Each release of
    the mouse repairs the photo with ``repair_painted`` on the points painted so far and shows
    damaged | repaired | original below; "clear" starts again. ``paint`` does from code what a drag does.
    """

    def __init__(self, model: Any, image: torch.Tensor, radius: float = 2.0, prompt: str = "", scale: int = 10) -> None:
        import ipywidgets as wd  # only when a widget is built: the twin works without them
        from ipycanvas import Canvas  # only when a canvas is built

        self.model, self.image, self.scale = model, image.float(), scale
        size = image.shape[-1]
        self.points: list[tuple[float, float]] = []
        self._drawing = False
        self.canvas = Canvas(width=size * scale, height=size * scale)
        self.canvas.add_class("pgan-repair-canvas")
        self.radius = wd.FloatSlider(value=radius, min=0.5, max=size / 4, step=0.5, description="brush")
        guided = getattr(model, "condition", None) is not None
        self.prompt = wd.Text(value=prompt, description="describe", layout=wd.Layout(width="420px")) if guided else None
        clear = wd.Button(description="clear")
        clear.on_click(lambda _: self.clear())
        self.picture = wd.Image(format="png")
        self.picture.add_class("pgan-repair-result")
        self.status = wd.Label("drag over the photo to paint a hole")
        self.canvas.on_mouse_down(self._down)
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_up(self._up)
        self.canvas.on_mouse_out(self._up)
        controls = [self.radius, clear] + ([self.prompt] if self.prompt is not None else [])
        self.box = wd.VBox([wd.HBox(controls), self.canvas, self.picture, self.status])
        self.last: torch.Tensor | None = None
        self._show_photo()

    def _show_photo(self) -> None:
        img = (self.image.clamp(0, 1) * 255).round().to(torch.uint8)
        if img.shape[0] == 1:
            img = (255 - img).expand(3, -1, -1)                            # grey photos: dark on white, as _png
        big = img.repeat_interleave(self.scale, 1).repeat_interleave(self.scale, 2)   # (3, H*s, W*s)
        self.canvas.put_image_data(big.permute(1, 2, 0).numpy(), 0, 0)

    def _add(self, px: float, py: float) -> None:
        x, y = px / self.scale, py / self.scale                             # canvas pixels -> photo pixels
        self.points.append((x, y))
        self.canvas.fill_style = "rgba(220, 40, 40, 0.7)"
        self.canvas.fill_circle(px, py, self.radius.value * self.scale)

    def _down(self, px: float, py: float) -> None:
        self._drawing = True
        self._add(px, py)

    def _move(self, px: float, py: float) -> None:
        if self._drawing:
            self._add(px, py)

    def _up(self, px: float, py: float) -> None:
        if self._drawing:
            self._drawing = False
            self.update()

    def paint(self, points: list[tuple[float, float]]) -> None:
        """Paint through ``points`` (photo pixels) and repair, as one drag of the mouse would."""
        for x, y in points:
            self._add(x * self.scale, y * self.scale)
        self.update()

    def clear(self) -> None:
        self.points = []
        self.last = None
        self._show_photo()
        self.picture.value = b""
        self.status.value = "drag over the photo to paint a hole"

    def update(self) -> None:
        prompt = self.prompt.value if self.prompt is not None else None
        try:
            damaged, repaired, mask = repair_painted(self.model, self.image, self.points, self.radius.value, prompt)
        except ValueError as err:
            self.status.value = f"cannot repair: {err}"
            return
        self.last = repaired
        self.picture.value = _png(torch.stack([damaged, repaired, self.image]), 6)
        self.status.value = f"hole of {int(mask.sum())} pixels; left to right: damaged, repaired, original"

    def _ipython_display_(self) -> None:
        from IPython.display import display  # only inside a notebook

        display(self.box)


__all__ = ["repair_box", "repair_mask", "paint_mask", "repair_painted", "RepairBox", "RepairCanvas"]
