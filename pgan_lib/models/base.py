"""What every kit model shares: a config dataclass, a name, and the trainer's step interface."""
from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import Checkpoint, CheckpointError, check_compatible, load_checkpoint
from ..data.base import ProductData
from ..data.batches import Batch
from .optim import adam


class TrainingContext(Protocol):
    """What a model's ``training_step`` may use of the trainer (``pgan_lib.train.StepContext`` is one):
    ``step(name, loss)`` takes one step of the optimiser ``name``; ``step_index`` counts training steps."""

    step_index: int

    def step(self, name: str, loss: torch.Tensor) -> None: ...


def batch_noise(ctx: Any, n: int, dim: int, device: torch.device) -> torch.Tensor:
    """N(0, I) noise (n, dim) for the n items of this step's batch.

    Under data-parallel training (``ctx.shard == (rank, world_size)``) the batch is one
    shard of a global batch of n * world_size items: every process draws the noise of the
    whole global batch from the same random stream and keeps its own rows, so the
    processes together see exactly the noise one process training on the global batch
    would draw (and their random streams stay in step).
    """
    shard = getattr(ctx, "shard", None)
    if shard is None:
        return torch.randn(n, dim, device=device)
    rank, world = shard
    return torch.randn(n * world, dim, device=device)[rank * n:(rank + 1) * n]

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

    Generators derive from ``GeneratorModel`` below, which fixes how every one of them samples.
    """

    arch: ClassVar[str] = ""
    Config: ClassVar[type] = object
    obsolete_keys: ClassVar[tuple[str, ...]] = ()   # tensors older checkpoints hold that this model no longer has

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.arch:
            REGISTRY[cls.arch] = cls

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.judges: list[Callable[[Any, ProductData], dict[str, float]]] = []

    # -- step interface -------------------------------------------------------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        trainable = [p for p in self.parameters() if p.requires_grad]     # frozen parts (a pre-trained encoder) stay as they are
        return {"main": adam(trainable, lr=lr)}

    def training_step(self, batch: Batch, ctx: TrainingContext) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def validation_metrics(self, data: ProductData) -> dict[str, float]:
        """The model's own validation numbers (e.g. the VAE's ELBO); judges add theirs in ``validate``."""
        return {}

    def validate(self, data: ProductData) -> dict[str, float]:
        """What the trainer logs at each validation: ``validation_metrics`` and every judge's numbers.

        A judge is a function ``judge(model, data) -> {name: value}`` that a recipe
        attaches (``model.judges.append(...)``), e.g. the FID of samples in a kit
        classifier's features: models never reach for evaluation code themselves.
        """
        out = self.validation_metrics(data)
        for judge in self.judges:
            out.update(judge(self, data))
        return out

    def batch_extra(self, data: ProductData) -> dict[str, torch.Tensor]:
        """Per-item tensors for the batches: the tokenised descriptions of a description-conditioned model."""
        cond = getattr(self, "condition", None)
        if cond is not None and cond.kind == "description":
            return {"tokens": cond.inputs_for(data)}
        return {}

    def batch_cond(self, batch: Batch) -> torch.Tensor | None:
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

    # -- data-parallel training ------------------------------------------------
    def distributed_networks(self) -> tuple[str, ...]:
        """The submodules (attribute names) whose gradients data-parallel training averages across processes.

        A model that supports ``torchrun`` lists its trained networks here and calls each
        through ``self.net(name)`` where that network's gradients are computed; the trainer
        wraps each in ``DistributedDataParallel``. Empty (the default): not supported.
        """
        return ()

    def net(self, name: str) -> nn.Module:
        """Network ``name`` as the training step should call it: its DistributedDataParallel wrapper
        under data-parallel training, else the network itself. Checkpoints never see the wrapper."""
        wrapped = self.__dict__.get("_wrapped_networks") or {}
        return wrapped[name] if name in wrapped else getattr(self, name)

    def set_wrapped_networks(self, wrapped: dict[str, nn.Module]) -> None:
        """Record the trainer's wrappers of ``distributed_networks`` (kept out of the state dict)."""
        self.__dict__["_wrapped_networks"] = dict(wrapped)

    # -- config and checkpoints -----------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def load_weights(self, ckpt: Checkpoint) -> None:
        """Load the ``model/`` tensors of a checkpoint, after checking it was made for this model."""
        check_compatible(ckpt.meta, self.arch, self.config_dict(), where=str(ckpt.path),
                         defaults=config_defaults(type(self.config)))
        own = self.state_dict()
        check_shapes(own, ckpt, self.arch, ignore=self.obsolete_keys)
        # Shipped weights may be stored in half precision: cast back to this model's dtypes.
        state = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in ckpt.group("model").items()
                 if k not in self.obsolete_keys}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{ckpt.path}: weights do not fit {self.arch}: missing {missing[:5]}, unexpected {unexpected[:5]}."
            )


class GeneratorModel(KitModel):
    """A model that draws product images. Every generator samples the same way::

        sample(n, labels=None, prompts=None, seed=None, z=None) -> images (n, C, H, W) in [0, 1]

    - ``z``: the latents (n, latent_dim); else n draws of N(0, I), reproducible with ``seed``
      (the same seed gives the same images on every device: the noise is drawn on the CPU).
    - ``labels``: one class per image (a sequence of n ints), or one int for all n.
    - ``prompts``: one description per image (a sequence of n strings), or one string for all n.
    - An unconditional model refuses labels and prompts; a conditional one needs the kind it
      was trained on (class labels or descriptions) and refuses the other.

    A subclass implements ``decode_latents(z, cond_inputs)``: latents on this model's
    device and the condition encoder's inputs (or None) -> images in [0, 1].
    """

    fixed_noise: torch.Tensor

    def decode_latents(self, z: torch.Tensor, cond_inputs: torch.Tensor | None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None,
               prompts: str | Sequence[str] | None = None, seed: int | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """n images in [0, 1] (N, C, H, W); see the class docstring for the arguments."""
        z = self.latents(n, seed, z)
        return self.decode_latents(z.to(self.device), self.cond_inputs(labels, prompts, n))

    def latents(self, n: int, seed: int | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """The noise a sampler starts from: ``z`` when given (it must hold n rows), else n draws of N(0, I)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number of images, at least 1; got {n!r}")
        dim = self.config.latent_dim
        if z is not None:
            if tuple(z.shape) != (n, dim):
                raise ValueError(f"z must have shape ({n}, {dim}) for n={n}; got {tuple(z.shape)}")
            return z
        if seed is not None and not 0 <= seed < 2**63:
            raise ValueError(f"seed must be an integer in 0 .. 2**63 - 1, got {seed}")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, dim, generator=gen)

    def cond_inputs(self, labels: int | Sequence[int] | torch.Tensor | None = None,
                    prompts: str | Sequence[str] | None = None, n: int | None = None) -> torch.Tensor | None:
        """Condition-encoder inputs for chosen labels or typed descriptions (None for an unconditional model)."""
        cond = getattr(self, "condition", None)
        name = f"this {type(self).__name__} ({self.arch})"
        if labels is not None and prompts is not None:
            raise ValueError("give labels or prompts, not both")
        if cond is None:
            if labels is not None or prompts is not None:
                raise ValueError(f"{name} is unconditional: do not pass labels or prompts")
            return None
        if labels is None and prompts is None:
            what = "labels=[...] (class indices)" if cond.kind == "label" else "prompts=[...] (descriptions)"
            raise ValueError(f"{name} is conditional: pass {what}")
        if prompts is not None:
            if isinstance(prompts, str):
                prompts = [prompts] * (n or 1)
            inputs = cond.inputs_from_prompts(list(prompts))
        else:
            if isinstance(labels, int) and not isinstance(labels, bool):
                labels = [labels] * (n or 1)
            inputs = cond.inputs_from_labels(labels)
        if n is not None and len(inputs) != n:
            raise ValueError(f"{len(inputs)} {'prompts' if prompts is not None else 'labels'} for {n} samples")
        return inputs.to(self.device)

    def preview(self, n: int = 16) -> torch.Tensor | None:
        """Images of the same fixed noise every time, for the training log: ``decode_latents`` with the
        classes in turn (one per column) for a label model and no condition for an unconditional one;
        None for a model conditioned on descriptions."""
        cond = getattr(self, "condition", None)
        if cond is not None and cond.kind != "label":
            return None
        return self.decode_latents(self.fixed_noise[:n], self.cond_inputs(labels=self.labels_in_turn(n)))

    def labels_in_turn(self, n: int) -> list[int] | None:
        """Classes 0, 1, ..., K-1, 0, 1, ... for n images of a label-conditioned model; None for an
        unconditional one. A model conditioned on descriptions has no classes to take turns: ValueError."""
        cond = getattr(self, "condition", None)
        if cond is None:
            return None
        if cond.kind != "label":
            raise ValueError(f"this {type(self).__name__} ({self.arch}) is conditioned on descriptions, not classes")
        return [i % cond.num_classes for i in range(n)]

    def cond_inputs_for(self, data: ProductData, index: slice | torch.Tensor) -> torch.Tensor | None:
        """The condition inputs of the items ``index`` of a split (their labels or tokens), on this model's device."""
        cond = getattr(self, "condition", None)
        if cond is None:
            return None
        if cond.kind == "label":
            return data.labels[index].to(self.device)
        return cond.inputs_for(data.subset(index)).to(self.device)


#: Latents are drawn in blocks of this many rows, whatever the batch size, so that image i of a
#: seeded run is the same however the run is split into batches.
LATENT_BLOCK = 500


@torch.no_grad()
def draw_samples(model: GeneratorModel, n: int, labels: Sequence[int] | None = None,
                 prompts: Sequence[str] | None = None, seed: int = 0, batch_size: int = 500,
                 progress: bool = False) -> torch.Tensor:
    """n samples (N, C, H, W) in [0, 1] on the CPU, drawn ``batch_size`` at a time.

    The latents come from one generator seeded with ``seed``, drawn ``LATENT_BLOCK``
    rows at a time, so the images do not depend on the batch size. ``labels`` /
    ``prompts`` hold one entry per image.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    pending = torch.empty(0, model.config.latent_dim)
    out = []
    for start in tqdm(range(0, n, batch_size), desc="sampling", unit="batch", disable=not progress or n <= batch_size):
        stop = min(n, start + batch_size)
        while len(pending) < stop - start:
            block = torch.randn(min(LATENT_BLOCK, n - start - len(pending)), model.config.latent_dim, generator=gen)
            pending = torch.cat([pending, block])
        z, pending = pending[:stop - start], pending[stop - start:]
        part_labels = None if labels is None else labels[start:stop]
        part_prompts = None if prompts is None else list(prompts[start:stop])
        out.append(model.sample(stop - start, labels=part_labels, prompts=part_prompts, z=z).cpu())
    return torch.cat(out)


def config_defaults(cls: type) -> dict[str, Any]:
    """The default of every field of a config dataclass that has one, JSON-ready."""
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return json.loads(json.dumps(out))


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a config field's annotation (ints bounded, tuples element-wise)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str) and len(value) <= 100_000
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(_type_ok(v, a) for v, a in zip(value, args))
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if hint is list or origin is list:
        return isinstance(value, list)
    return True


def config_from_dict(cls: type, values: dict[str, Any]):
    """Build a config dataclass from JSON values (lists back to tuples where the default is a tuple).

    Every value is checked against its field's type first, and a value the config itself
    refuses becomes a CheckpointError naming it.
    """
    if not isinstance(values, dict):
        raise CheckpointError(f"config must be an object, got {type(values).__name__}")
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved: check nothing rather than refuse
        hints = {}
    kwargs = {}
    wrong = []
    for f in fields(cls):
        if f.name in values:
            v = values[f.name]
            if f.name in hints and not _type_ok(v, hints[f.name]):
                wrong.append(f"{f.name!r} must be {hints[f.name]}, got {type(v).__name__} {str(v)[:40]!r}")
                continue
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise CheckpointError(f"config has fields {sorted(unknown)[:10]} that {cls.__name__} does not know")
    if wrong:
        raise CheckpointError(f"config of {cls.__name__} has wrong types: " + "; ".join(wrong[:10]))
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"config of {cls.__name__} is not valid: {str(err)[:300]}") from None


def check_shapes(own: dict[str, torch.Tensor], ckpt: Checkpoint, arch: str, ignore: Sequence[str] = ()) -> None:
    """CheckpointError when the saved ``model/`` tensors' names or shapes differ from ``own`` (a state dict).

    ``ignore``: saved tensors an older version of the model had (its ``obsolete_keys``)."""
    saved = {k: v for k, v in ckpt.shapes("model").items() if k not in ignore}
    wrong = [f"{k}: saved {list(saved[k])}, this config builds {list(v.shape)}"
             for k, v in own.items() if k in saved and tuple(v.shape) != saved[k]]
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    if wrong or missing or unexpected:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape(s) differ ({'; '.join(wrong[:3])})")
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        raise CheckpointError(f"{ckpt.path}: the weights do not fit the {arch} its sidecar describes: "
                              + ", ".join(parts) + ". The sidecar and the weights do not belong together.")


def load_model(path: str | Path, device: str | torch.device = "cpu", weights_sha256: str | None = None,
               sidecar_sha256: str | None = None) -> KitModel:
    """Rebuild a model from a checkpoint alone (its architecture and config are in the sidecar).

    The model is first built on the "meta" device (no memory) and its shapes compared with
    the saved ones, so a sidecar whose config disagrees with the weights (or asks for a huge
    model) is refused before anything is allocated. The digests, when given, are passed to
    :func:`load_checkpoint`.
    """
    from . import _register_all  # noqa: F401  (deferred: the model modules import this one; fills REGISTRY)

    ckpt = load_checkpoint(path, weights_sha256=weights_sha256, sidecar_sha256=sidecar_sha256)
    arch = ckpt.meta.get("arch")
    if arch not in REGISTRY:
        raise CheckpointError(f"{ckpt.path}: unknown architecture {str(arch)[:100]!r}; known: {', '.join(sorted(REGISTRY))}.")
    cls = REGISTRY[arch]
    config = config_from_dict(cls.Config, ckpt.meta.get("config", {}))
    try:
        with torch.device("meta"):
            skeleton = cls(config)
    except (ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{ckpt.path}: its config cannot build a {arch}: {str(err)[:300]}") from None
    check_shapes(skeleton.state_dict(), ckpt, arch, ignore=cls.obsolete_keys)
    del skeleton
    model = cls(config)
    model.load_weights(ckpt)
    return model.to(device).eval()
