"""Validation judges: measurements a recipe attaches to a model so that the trainer logs them.

A judge is any callable ``judge(model, data) -> {name: value}``; ``KitModel.validate``
calls the model's own ``validation_metrics`` and then every judge in
``model.judges``. Models never import evaluation code: the recipe decides which
yardstick measures a run and hands it over.
"""
from __future__ import annotations

import torch

from ..data.base import ProductData
from ..models.base import GeneratorModel
from . import metrics as M
from .features import FeatureExtractor, shipped_extractor


class SampleQuality:
    """FID (and, for a label-conditioned generator, class accuracy) of ``n`` samples against a split.

        val_fid = || mu_r - mu_g ||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))

    in the features of a frozen kit classifier. The samples' conditions follow the
    split's own items (labels or descriptions, in order, repeated), and the noise is
    the same at every validation, so two validations of one run differ only by the
    generator. Fewer samples than a final evaluation: the number reads higher than
    ``pgan eval`` would say; compare it between validations of the same run.
    """

    def __init__(self, feature_model: str, n: int = 2000, seed: int = 1, batch_size: int = 500) -> None:
        self.feature_model, self.n, self.seed, self.batch_size = feature_model, n, seed, batch_size
        self._real: tuple[str, tuple[torch.Tensor, torch.Tensor]] | None = None

    def extractor(self, device: torch.device) -> FeatureExtractor:
        """The shipped classifier, verified and loaded once per process (fails early on a missing file)."""
        return shipped_extractor(self.feature_model, device)

    @torch.no_grad()
    def __call__(self, model: GeneratorModel, data: ProductData) -> dict[str, float]:
        ext = self.extractor(model.device)
        key = f"{data.name}:{data.split}:{len(data)}"
        if self._real is None or self._real[0] != key:          # the real side is measured once per split
            self._real = (key, M.feature_stats(ext(data.images).features))
        index = torch.arange(self.n) % len(data)
        gen = torch.Generator().manual_seed(self.seed)
        images = []
        for start in range(0, self.n, self.batch_size):
            idx = index[start:start + self.batch_size]
            z = torch.randn(len(idx), model.config.latent_dim, generator=gen)
            images.append(model.decode_latents(z.to(model.device), model.cond_inputs_for(data, idx)).cpu())
        fake = ext(torch.cat(images))
        out = {"val_fid": M.frechet_distance(*M.feature_stats(fake.features), *self._real[1])}
        cond = getattr(model, "condition", None)
        if cond is not None and cond.kind == "label":
            acc = M.class_accuracy(fake.predicted(ext.heads[0]), data.labels[index], cond.num_classes)
            out["val_class_acc"] = acc["accuracy"]
            out["val_classes_present"] = float(acc["classes_present"])
            out["val_worst_class_acc"] = acc["worst_class_accuracy"]
        return out

