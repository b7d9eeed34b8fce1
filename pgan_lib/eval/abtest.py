"""A human A/B test: can people tell generated product photos from real ones?

Each trial shows one real and one generated image side by side, in random
order; the person says which one is generated. Accuracy near 50% means the
generated images pass; the Wilson interval says how sure that is.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import to_float_images, to_uint8


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (95 % for z = 1.96); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


class ABTest:
    """Show a real and a generated image side by side (random sides); ask which one is real.

    Plain-Python twin: ``pair()`` gives the current (left, right) images, ``answer("left"|"right")``
    records a choice, ``summary()`` gives the fooling rate with its Wilson interval, ``save_csv(path)``
    writes the answers. ``widget()`` is the same test with buttons.
    """

    def __init__(self, real, fake, n_trials: int | None = None, seed: int = 0, label: str = "generated"):
        self.real, self.fake = to_float_images(real), to_float_images(fake)
        n = min(len(self.real), len(self.fake)) if n_trials is None else n_trials
        rng = np.random.default_rng(seed)
        self.real_idx = rng.choice(len(self.real), n, replace=n > len(self.real))
        self.fake_idx = rng.choice(len(self.fake), n, replace=n > len(self.fake))
        self.real_side = np.where(rng.random(n) < 0.5, "left", "right")
        self.label = label
        self.answers: list[dict] = []

    def __len__(self) -> int:
        return len(self.real_side)

    @property
    def done(self) -> bool:
        return len(self.answers) >= len(self)

    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current trial's (left, right) images, (C, H, W) each."""
        if self.done:
            raise IndexError("the test is finished")
        t = len(self.answers)
        real, fake = self.real[self.real_idx[t]], self.fake[self.fake_idx[t]]
        return (real, fake) if self.real_side[t] == "left" else (fake, real)

    def answer(self, choice: str) -> dict:
        """Record "left" or "right" (the side the person thinks is real) for the current trial."""
        if choice not in ("left", "right"):
            raise ValueError(f'choice must be "left" or "right", got {choice!r}')
        if self.done:
            raise IndexError("the test is finished")
        t = len(self.answers)
        row = {"trial": t, "real_index": int(self.real_idx[t]), "fake_index": int(self.fake_idx[t]),
               "real_side": str(self.real_side[t]), "choice": choice,
               "fooled": int(choice != self.real_side[t])}
        self.answers.append(row)
        return row

    def summary(self, z: float = 1.96) -> dict:
        """Answers so far: n, fooled, fooling_rate and its Wilson interval (ci_low, ci_high)."""
        n = len(self.answers)
        k = sum(a["fooled"] for a in self.answers)
        lo, hi = wilson_interval(k, n, z)
        return {"label": self.label, "n": n, "fooled": k, "fooling_rate": k / n if n else float("nan"),
                "ci_low": lo, "ci_high": hi}

    def format_summary(self) -> str:
        s = self.summary()
        if s["n"] == 0:
            return "no answers yet"
        return (f"{s['label']}: fooled {s['fooled']} of {s['n']} times, fooling rate {s['fooling_rate']:.1%} "
                f"(95% Wilson interval {s['ci_low']:.1%} to {s['ci_high']:.1%}; 50% = indistinguishable)")

    def save_csv(self, path) -> Path:
        """Write one row per answer (trial, indices, real side, choice, fooled)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = ["trial", "real_index", "fake_index", "real_side", "choice", "fooled"]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.answers)
        return path

    @staticmethod
    def _png(image: torch.Tensor, scale: int = 6) -> bytes:
        x = to_uint8(image).permute(1, 2, 0).numpy()
        img = Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x)
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()

    def widget(self, csv_path=None):
        """The live test: two images, buttons "left is real" / "right is real", a running summary."""
        import ipywidgets as w  # widgets only inside a notebook

        left, right = w.Image(format="png"), w.Image(format="png")
        b_left, b_right = w.Button(description="left is real"), w.Button(description="right is real")
        status = w.Label()

        def show():
            if self.done:
                b_left.disabled = b_right.disabled = True
                note = f"; answers saved to {self.save_csv(csv_path)}" if csv_path else ""
                status.value = "finished. " + self.format_summary() + note
                return
            a, b = self.pair()
            left.value, right.value = self._png(a), self._png(b)
            status.value = f"trial {len(self.answers) + 1} of {len(self)}. " + self.format_summary()

        def click(choice):
            def handler(_):
                if not self.done:
                    self.answer(choice)
                show()
            return handler

        b_left.on_click(click("left"))
        b_right.on_click(click("right"))
        show()
        return w.VBox([w.HBox([left, right]), w.HBox([b_left, b_right]), status])
