"""One small trainer for every model in the kit.

The loop, in words:

    for step in 1..max_steps:
        batch = next batch (a fixed function of seed and step, so resuming is exact)
        logs  = model.training_step(batch, ctx)   # ctx.step(name, loss) = backward + optimiser step
        every log_every steps:        write scalars to TensorBoard, update the progress bar
        every val_every steps:        validation metrics, LR schedule, early stopping, best checkpoint
        every checkpoint_every steps: save ``last`` (weights, optimisers, RNG, history)

A model plugs in through the small interface of ``pgan_lib.models.base.KitModel``.
"""
from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid
from tqdm.auto import tqdm

from .checkpoint import (
    CheckpointError,
    check_compatible,
    join_state,
    load_checkpoint,
    optimizer_state_from_json,
    save_checkpoint,
    split_state,
)
from .config import pick_device
from .data.base import ProductData
from .data.batches import BatchIterator
from .models.base import config_defaults


@dataclass
class TrainConfig:
    """How long and how a model is trained. Every field has a sensible default."""

    max_steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-4
    seed: int = 0
    log_every: int = 50
    val_every: int = 500
    checkpoint_every: int = 500
    early_stop_metric: str | None = None     # a key of model.validate(), e.g. "val_loss"
    early_stop_mode: str = "min"             # "min" or "max"
    patience: int = 5                        # validations without improvement before stopping
    lr_schedule: str = "none"                # "none", "cosine" or "plateau"
    plateau_patience: int = 2
    grad_clip: float | None = None
    amp: bool = True                         # bf16 autocast on CUDA (no effect on CPU)
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("none", "cosine", "plateau"):
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: use 'none', 'cosine' or 'plateau'.")
        if self.early_stop_mode not in ("min", "max"):
            raise ValueError(f"early_stop_mode {self.early_stop_mode!r}: use 'min' or 'max'.")
        if self.lr_schedule == "plateau" and not self.early_stop_metric:
            raise ValueError("lr_schedule='plateau' watches early_stop_metric: set it (e.g. 'val_loss').")


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


class StepContext:
    """Handed to ``training_step``: takes optimiser steps with the trainer's safety checks.

    Every loss is checked to be finite. On the CPU the check happens at once. On
    a GPU, reading the answer back would make the host wait for the GPU at every
    step, so the checks are collected (``deferred``) and read back together by
    ``check()``, which the trainer calls at each log step and before every
    validation and checkpoint: a non-finite loss is still reported with the step
    it happened at, and never reaches a saved checkpoint.
    """

    def __init__(self, trainer: "Trainer", deferred: bool = False) -> None:
        self.trainer = trainer
        self.step_index = 0
        self.deferred = deferred
        self._pending: list[tuple[int, str, torch.Tensor, torch.Tensor]] = []   # (step, optimiser, loss, is finite)

    def step(self, name: str, loss: torch.Tensor) -> None:
        """Backward pass and one step of optimiser ``name``, after checking the loss is finite."""
        t = self.trainer
        finite = torch.isfinite(loss.detach()).all()
        if self.deferred:
            self._pending.append((self.step_index, name, loss.detach(), finite))
        elif not finite:
            self._stop(self.step_index, name, loss)
        opt = t.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t.config.grad_clip:
            params = [p for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, t.config.grad_clip)
        opt.step()

    def check(self) -> None:
        """Read back the deferred checks (one host-device sync for all of them); raise for the first bad loss."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        finite = torch.stack([f for *_, f in pending]).cpu()
        if not finite.all():
            step, name, loss, _ = pending[int((~finite).nonzero()[0])]
            self._stop(step, name, loss)

    def _stop(self, step: int, name: str, loss: torch.Tensor) -> None:
        last = self.trainer.out_dir / "last.json"
        kept = f"The last good checkpoint is {last}." if last.exists() else "No checkpoint had been written yet."
        raise NonFiniteLossError(
            f"Loss {name!r} became {loss.detach().float().item()} at step {step}; the run stopped. {kept} "
            "Try a lower learning rate, gradient clipping (grad_clip), or check the data for bad values."
        )


@dataclass
class TrainResult:
    steps: int
    stopped_early: bool
    best_metric: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    out_dir: Path = Path(".")
    seconds: float = 0.0


class Trainer:
    """Trains one ``KitModel`` on one ProductData split; see the module docstring."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, device: str | torch.device | None = None,
                 data_fingerprint: str | None = None, recipe: str | None = None) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.device = pick_device(device)
        self.data_fingerprint = data_fingerprint
        self.recipe = recipe
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.step = 0
        self.best: float | None = None
        self.bad_validations = 0
        self._stop_signal = False
        self.seconds_before = 0.0   # training time of earlier sessions of a resumed run
        self._t0 = time.time()
        #: check losses for NaN/inf in batches (see StepContext); None: on any device but the CPU
        self.defer_finite_check: bool | None = None
        self._ctx: StepContext | None = None

    @property
    def seconds(self) -> float:
        """Wall-clock training seconds so far, over all sessions of this run."""
        return self.seconds_before + (time.time() - self._t0)

    # -- checkpoints ----------------------------------------------------------
    def _state(self, model) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in model.state_dict().items()}
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {
            "arch": model.arch,
            "config": model.config_dict(),
            "step": self.step,
            "recipe": self.recipe,
            "train_config": asdict(self.config),
            "history": self.history,
            "best_metric": self.best,
            "bad_validations": self.bad_validations,
            "seconds": self.seconds,
            "data_fingerprint": self.data_fingerprint,
            "optimizers": {n: split_state(o.state_dict(), f"optim/{n}", tensors) for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "rng": split_state(rng, "rng", tensors),
        }
        return tensors, meta

    def save(self, model, name: str = "last") -> Path:
        if self._ctx is not None:
            self._ctx.check()       # never save weights that a non-finite loss has already touched
        tensors, meta = self._state(model)
        return save_checkpoint(self.out_dir / name, tensors, meta)

    def _resume(self, model) -> None:
        ckpt = load_checkpoint(self.out_dir / "last")
        check_compatible(ckpt.meta, model.arch, model.config_dict(), where=f"checkpoint {ckpt.path}",
                         defaults=config_defaults(type(model.config)))
        if self.data_fingerprint and ckpt.meta.get("data_fingerprint") not in (None, self.data_fingerprint):
            raise CheckpointError(
                f"{ckpt.path} was trained on other data (fingerprint {ckpt.meta['data_fingerprint']}, "
                f"now {self.data_fingerprint}); resume with the same data and mode, or start a new --out folder."
            )
        model.load_weights(ckpt)
        for name, opt in self.optimizers.items():
            opt.load_state_dict(optimizer_state_from_json(join_state(ckpt.meta["optimizers"][name], ckpt.tensors)))
        for name, sched in self.schedulers.items():
            sched.load_state_dict(ckpt.meta["schedulers"][name])
        rng = join_state(ckpt.meta["rng"], ckpt.tensors)
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.step = int(ckpt.meta["step"])
        self.history = list(ckpt.meta.get("history", []))
        self.best = ckpt.meta.get("best_metric")
        self.bad_validations = int(ckpt.meta.get("bad_validations", 0))
        self.seconds_before = float(ckpt.meta.get("seconds", 0.0))
        print(f"Resumed from {ckpt.path} at step {self.step}.")

    # -- helpers ----------------------------------------------------------------
    def _make_schedulers(self) -> None:
        c = self.config
        for name, opt in self.optimizers.items():
            if c.lr_schedule == "cosine":
                self.schedulers[name] = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.max_steps)
            elif c.lr_schedule == "plateau":
                self.schedulers[name] = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    opt, mode="max" if c.early_stop_mode == "max" else "min", factor=0.5, patience=c.plateau_patience)

    def _improved(self, value: float) -> bool:
        if self.best is None or not math.isfinite(self.best):
            return True
        return value < self.best if self.config.early_stop_mode == "min" else value > self.best

    def _on_signal(self, signum, frame) -> None:  # SIGTERM: finish the step, save, stop
        self._stop_signal = True

    def _validate(self, model, val_data, writer) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            metrics = model.validate(val_data) if val_data is not None else {}
        model.train()
        entry = {"step": self.step, "seconds": round(self.seconds, 1), **{k: float(v) for k, v in metrics.items()}}
        for name in self.schedulers:
            entry[f"lr_{name}"] = self.optimizers[name].param_groups[0]["lr"]
        self.history.append(entry)
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"val/{k}", v, self.step)
        return metrics

    # -- the loop -----------------------------------------------------------------
    def fit(self, model, train_data: ProductData, val_data: ProductData | None = None, resume: bool = False) -> TrainResult:
        """Train ``model`` until max_steps or early stopping; returns what happened."""
        c = self.config
        torch.manual_seed(c.seed)
        model.to(self.device).train()
        self.optimizers = model.configure_optimizers(c.lr)
        self._make_schedulers()
        if resume:
            if (self.out_dir / "last.json").exists():
                self._resume(model)
            else:
                print(f"No checkpoint in {self.out_dir} to resume from; starting at step 0.")
        batches = BatchIterator(train_data, c.batch_size, self.device, shuffle=True, seed=c.seed,
                                extra=model.batch_extra(train_data)).batches(self.step)
        writer = self._writer()
        self._t0 = time.time()
        deferred = self.device.type != "cpu" if self.defer_finite_check is None else self.defer_finite_check
        ctx = self._ctx = StepContext(self, deferred=deferred)
        bar = self._bar(model)
        stopped_early = False
        old_handler = signal.signal(signal.SIGTERM, self._on_signal) if _main_thread() else None
        try:
            while self.step < c.max_steps:
                batch = next(batches)
                ctx.step_index = self.step + 1
                with self._autocast():
                    logs = model.training_step(batch, ctx)
                model.after_step(self.step + 1)
                self.step += 1
                if "cosine" == c.lr_schedule:
                    for s in self.schedulers.values():
                        s.step()
                if self.step % c.log_every == 0 or self.step == c.max_steps:
                    ctx.check()
                    values = {k: float(v) for k, v in logs.items()}
                    if writer is not None:
                        for k, v in values.items():
                            writer.add_scalar(f"train/{k}", v, self.step)
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.4g}" for k, v in list(values.items())[:4]}, refresh=False)
                if bar is not None:
                    bar.update(1)
                if self.step % c.val_every == 0 or self.step == c.max_steps:
                    ctx.check()
                    metrics = self._validate(model, val_data, writer)
                    if writer is not None:
                        self._log_images(model, writer)
                    key = c.early_stop_metric
                    if key:
                        if key not in metrics:
                            raise KeyError(f"early_stop_metric {key!r} is not among the validation metrics {sorted(metrics)}.")
                        value = metrics[key]
                        for s in self.schedulers.values():
                            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                                s.step(value)
                        if self._improved(value):
                            self.best, self.bad_validations = value, 0
                            self.save(model, "best")
                        else:
                            self.bad_validations += 1
                            if self.bad_validations >= c.patience:
                                stopped_early = True
                if self.step % c.checkpoint_every == 0 or stopped_early or self._stop_signal or self.step == c.max_steps:
                    self.save(model, "last")
                if stopped_early:
                    print(f"Early stopping at step {self.step}: {c.early_stop_metric} has not improved for "
                          f"{c.patience} validations (best {self.best:.4g}).")
                    break
                if self._stop_signal:
                    print(f"Stopped by a signal at step {self.step}; saved {self.out_dir / 'last'}. Resume with --resume.")
                    break
        except KeyboardInterrupt:
            self.save(model, "last")
            print(f"\nInterrupted at step {self.step}; saved {self.out_dir / 'last'}. Resume with --resume.")
            raise
        finally:
            if bar is not None:
                bar.close()
            if writer is not None:
                writer.close()
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
        model.eval()
        return TrainResult(self.step, stopped_early, self.best, list(self.history), self.out_dir, self.seconds)

    def _autocast(self):
        if self.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def _writer(self):
        if not self.config.tensorboard:
            return None
        from torch.utils.tensorboard import SummaryWriter  # slow to import: only when logging is on

        return SummaryWriter(log_dir=str(self.out_dir / "tensorboard"))

    def _bar(self, model):
        if not self.config.progress:
            return None
        return tqdm(total=self.config.max_steps, initial=self.step, desc=f"train {model.arch}", unit="step")

    def _log_images(self, model, writer) -> None:
        model.eval()
        with torch.no_grad():
            imgs = model.preview(16)
        model.train()
        if imgs is not None:
            writer.add_image("samples", make_grid(imgs.float().clamp(0, 1).cpu(), nrow=8), self.step)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def data_fingerprint(data: ProductData) -> str:
    """A short hash of a split's images and labels, recorded in checkpoints."""
    h = hashlib.sha256()
    h.update(data.images.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return f"{data.name}:{data.split}:{len(data)}:{h.hexdigest()[:16]}"
