"""What every kit model shares: a config dataclass, a name, and the trainer's step interface."""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..checkpoint import Checkpoint, CheckpointError, check_compatible, load_checkpoint

REGISTRY: dict[str, type["KitModel"]] = {}


class KitModel(nn.Module):
    """Base class of the kit's models.

    A subclass sets ``arch`` (its registered name) and ``Config`` (a dataclass),
    and implements the part of the step interface it needs:

    - ``configure_optimizers(lr)`` -> {"name": optimizer}; a GAN returns two.
    - ``training_step(batch, ctx)`` -> dict of scalar tensors to log; it calls
      ``ctx.step("name", loss)`` to take an optimiser step (backward, clipping and
      the non-finite check happen there).
    - ``validation_metrics(data)`` -> dict of floats, computed under ``no_grad``.
    - ``batch_extra(data)`` -> per-item tensors the batches should carry
      (e.g. tokenised descriptions), default none.
    - ``sample(n, ...)`` -> images in [0, 1], for generators.
    """

    arch: ClassVar[str] = ""
    Config: ClassVar[type] = object

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.arch:
            REGISTRY[cls.arch] = cls

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    # -- step interface -------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        trainable = [p for p in self.parameters() if p.requires_grad]     # frozen parts (a pre-trained encoder) stay as they are
        return {"main": torch.optim.Adam(trainable, lr=lr)}

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def validation_metrics(self, data) -> dict[str, float]:
        return {}

    def batch_extra(self, data) -> dict[str, torch.Tensor]:
        """Per-item tensors for the batches: the tokenised descriptions of a description-conditioned model."""
        cond = getattr(self, "condition", None)
        if cond is not None and cond.kind == "description":
            return {"tokens": cond.inputs_for(data)}
        return {}

    def batch_cond(self, batch) -> torch.Tensor | None:
        """What a conditional model's ``condition`` encoder reads from a batch: labels or tokens."""
        cond = getattr(self, "condition", None)
        if cond is None:
            return None
        return batch.y if cond.kind == "label" else batch.extra["tokens"]

    def preview(self, n: int = 16) -> torch.Tensor | None:
        """Images for the training log (e.g. samples from fixed noise), or None."""
        return None

    def after_step(self, step: int) -> None:
        """Called after every training step (e.g. to update an EMA copy)."""

    # -- config and checkpoints -----------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- sampling helpers shared by the generators ------------------------------
    def latents(self, n: int, seed: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """The noise a sampler starts from: ``z`` when given, else n draws of N(0, I), reproducible with ``seed``."""
        if z is not None:
            return z
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.config.latent_dim, generator=gen)

    def cond_inputs(self, labels=None, prompts: list[str] | None = None, n: int | None = None) -> torch.Tensor | None:
        """Condition-encoder inputs for chosen labels or typed descriptions (None for an unconditional model)."""
        cond = getattr(self, "condition", None)
        name = type(self).__name__
        if cond is None:
            if labels is not None or prompts is not None:
                raise ValueError(f"this {name} is unconditional: do not pass labels or prompts")
            return None
        if prompts is not None:
            inputs = cond.inputs_from_prompts(list(prompts))
        elif labels is not None:
            inputs = cond.inputs_from_labels(labels)
        else:
            raise ValueError(f"this {name} is conditional: pass labels=... or prompts=...")
        if n is not None and len(inputs) != n:
            raise ValueError(f"{len(inputs)} conditions for {n} samples")
        return inputs.to(self.device)

    def load_weights(self, ckpt: Checkpoint) -> None:
        """Load the ``model/`` tensors of a checkpoint, after checking it was made for this model."""
        check_compatible(ckpt.meta, self.arch, self.config_dict(), where=str(ckpt.path),
                         defaults=config_defaults(type(self.config)))
        own = self.state_dict()
        # Shipped weights may be stored in half precision: cast back to this model's dtypes.
        state = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in ckpt.group("model").items()}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{ckpt.path}: weights do not fit {self.arch}: missing {missing[:5]}, unexpected {unexpected[:5]}."
            )


def config_defaults(cls: type) -> dict[str, Any]:
    """The default of every field of a config dataclass that has one, JSON-ready."""
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return json.loads(json.dumps(out))


def config_from_dict(cls: type, values: dict[str, Any]):
    """Build a config dataclass from JSON values (lists back to tuples where the default is a tuple)."""
    kwargs = {}
    for f in fields(cls):
        if f.name in values:
            v = values[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise CheckpointError(f"config has fields {sorted(unknown)} that {cls.__name__} does not know")
    return cls(**kwargs)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> KitModel:
    """Rebuild a model from a checkpoint alone (its architecture and config are in the sidecar)."""
    from . import _register_all  # noqa: F401  (import every model module so REGISTRY is complete)

    ckpt = load_checkpoint(path)
    arch = ckpt.meta.get("arch")
    if arch not in REGISTRY:
        raise CheckpointError(f"{ckpt.path}: unknown architecture {arch!r}; known: {', '.join(sorted(REGISTRY))}.")
    cls = REGISTRY[arch]
    model = cls(config_from_dict(cls.Config, ckpt.meta.get("config", {})))
    model.load_weights(ckpt)
    return model.to(device).eval()
