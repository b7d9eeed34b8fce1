"""One small trainer for every model in the kit.

The loop, in words:

    for step in 1..max_steps:
        batch = next batch (a fixed function of seed and step, so resuming is exact)
        logs  = model.training_step(batch, ctx)   # ctx.step(name, loss) = backward + optimiser step
        every log_every steps:        write scalars to TensorBoard, update the progress bar
        every val_every steps:        validation metrics, LR schedule, early stopping, best checkpoint
        every checkpoint_every steps: save ``last`` (weights, optimisers, RNG, history)

``Trainer.fit`` reads as those parts: ``_setup`` (seed, optimisers, resume or start),
``_start`` (batches, logging), then per step ``_train_step``, ``_log``, ``_validation``
and ``save``, and ``_finish``.

A run folder is safe to share on one machine: one trainer at a time holds it
(:class:`RunLock`; a second one is refused with the holder's PID, the lock of a killed
trainer is taken over), a folder that already holds a run is neither overwritten nor
mixed into without ``resume`` or ``force``, ``resume`` continues from the newest valid
checkpoint (``best`` when ``last`` is missing, damaged or older), and temporary files of
killed saves are removed.

A model plugs in through the small interface of ``pgan_lib.models.base.KitModel``.

Speed (``pgan_lib.acceleration``): nothing in a step waits for the device (the finite-loss
checks are read back in batches off the CPU), optimisers are fused or foreach
(``models.optim``), the EMA is one foreach lerp; ``compile``, ``channels_last``,
``amp_cpu`` and the large-batch learning-rate rule (``lr_scaling``, ``warmup_steps``) are
opt-in. Under ``torchrun`` the trainer trains data-parallel (``pgan_lib.distributed``):
each process takes its shard of every batch, rank 0 writes.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock: RunLock uses a PID file there
    fcntl = None  # type: ignore[assignment]
from tqdm.auto import tqdm

from . import acceleration, classroom, distributed
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    check_compatible,
    join_state,
    load_checkpoint,
    optimizer_state_from_json,
    read_sidecar,
    save_checkpoint,
    split_state,
)
from .config import pick_device
from .data.base import ProductData
from .data.batches import Batch, BatchIterator
from .models.base import config_defaults
from .safety import MAX_SEED, PathError, check_int, clean_stale_temps, pid_alive, safe_text

if TYPE_CHECKING:
    from .models.base import KitModel


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
    amp_cpu: bool = False                    # bf16 autocast on the CPU (opt-in)
    channels_last: bool = False              # 4-D weights and batches in channels-last layout (opt-in)
    compile: bool = False                    # torch.compile the trained networks (opt-in; warns and trains uncompiled
    compile_mode: str = "default"            # where it cannot); "reduce-overhead": CUDA graphs too
    lr_scaling: str = "none"                 # large batches: lr * (batch_size / base_batch_size) ** (0, 1/2, 1)
    base_batch_size: int = 64                # for "none", "sqrt", "linear" (see pgan_lib.acceleration)
    warmup_steps: int = 0                    # linear learning-rate warm-up over the first steps
    sync_batchnorm: bool = True              # data-parallel runs: BatchNorm statistics over the global batch
    max_seconds: float | None = None         # stop (and save) after this much training time, validation excluded
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        for name, high in (("max_steps", 10**9), ("batch_size", 2**20), ("log_every", 10**9), ("val_every", 10**9),
                           ("checkpoint_every", 10**9), ("patience", 10**6), ("plateau_patience", 10**6)):
            check_int(name, getattr(self, name), 1, high)
        check_int("seed", self.seed, 0, MAX_SEED, "a seed is a whole number such as 0 or 1234")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (0 < self.lr < 1e3):
            raise ValueError(f"lr must be a positive number such as 2e-4, got {self.lr!r}")
        if self.grad_clip is not None and (isinstance(self.grad_clip, bool) or not isinstance(self.grad_clip, (int, float))
                                           or not 0 < self.grad_clip < float("inf")):
            raise ValueError(f"grad_clip must be None or a positive number such as 1.0, got {self.grad_clip!r}")
        if self.lr_schedule not in ("none", "cosine", "plateau"):
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: use 'none', 'cosine' or 'plateau'.")
        if self.early_stop_mode not in ("min", "max"):
            raise ValueError(f"early_stop_mode {self.early_stop_mode!r}: use 'min' or 'max'.")
        if self.lr_schedule == "plateau" and not self.early_stop_metric:
            raise ValueError("lr_schedule='plateau' watches early_stop_metric: set it (e.g. 'val_loss').")
        check_int("base_batch_size", self.base_batch_size, 1, 2**20)
        check_int("warmup_steps", self.warmup_steps, 0, 10**9)
        if self.lr_scaling not in acceleration.LR_SCALINGS:
            raise ValueError(f"lr_scaling {self.lr_scaling!r}: use one of {', '.join(acceleration.LR_SCALINGS)}.")
        if self.compile_mode not in acceleration.COMPILE_MODES:
            raise ValueError(f"compile_mode {self.compile_mode!r}: use one of {', '.join(acceleration.COMPILE_MODES)}.")
        if self.max_seconds is not None and (isinstance(self.max_seconds, bool) or not isinstance(self.max_seconds, (int, float))
                                             or not 0 < self.max_seconds < float("inf")):
            raise ValueError(f"max_seconds must be None or a positive number of seconds such as 180, got {self.max_seconds!r}")
        if self.warmup_steps and self.lr_schedule == "plateau":
            raise ValueError("warmup_steps works with lr_schedule 'none' or 'cosine', not 'plateau'.")

    @property
    def effective_lr(self) -> float:
        """The learning rate after the large-batch rule: lr * (batch_size / base_batch_size) ** p."""
        return acceleration.scaled_lr(self.lr, self.batch_size, self.base_batch_size, self.lr_scaling)


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
        #: (rank, world_size) under data-parallel training: this process holds one shard of the global batch
        self.shard: tuple[int, int] | None = None
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
    peak_memory: dict[str, Any] = field(default_factory=dict)   # classroom.PeakMemory of the process, at the end


class RunFolderError(PathError):
    """The run folder cannot be used: it cannot be created or written, or a finished run is in it."""


class RunLockedError(RuntimeError):
    """Another trainer (named by its process id) is writing to the same run folder."""


LOCK_FILE = ".lock"


class RunLock:
    """One trainer per run folder: an exclusive lock on ``<out>/.lock`` holding the owner's PID.

    The operating system releases the lock when its process ends, however it ends, so the
    lock of a killed trainer is taken over by the next one. Where file locks are not
    available (Windows) the file itself is the lock and a dead PID in it is taken over.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            return self.path.read_text()[:40].split()[0]
        except (OSError, IndexError):
            return "unknown"

    def _refuse(self, holder: str) -> None:
        raise RunLockedError(
            f"{safe_text(self.path.parent, 300)} is in use by another trainer (PID {safe_text(holder, 20)}); "
            "wait for it to finish or train into another --out folder. Two trainers in one folder would mix "
            "their checkpoints and logs.")

    def acquire(self) -> "RunLock":
        if fcntl is None:  # pragma: no cover - Windows
            return self._acquire_pidfile()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self._refuse(self._holder())
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {platform.node()}\n".encode())
        self._fd = fd
        return self

    def _acquire_pidfile(self) -> "RunLock":  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder.isdigit() and not pid_alive(int(holder)):
                    self.path.unlink(missing_ok=True)   # the holder is gone: take the lock over
                    continue
                self._refuse(holder)
            os.write(fd, f"{os.getpid()} {platform.node()}\n".encode())
            os.close(fd)
            self._fd = -1
            return self
        self._refuse(self._holder())
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        if self._fd >= 0:
            os.close(self._fd)      # closing releases the flock; the file stays (deleting it would race)
        else:  # pragma: no cover - Windows
            self.path.unlink(missing_ok=True)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


_CHECKPOINT_NAMES = ("last", "best")


@dataclass
class _Loop:
    """What one training session needs besides the model: batches, logging, the step context."""

    batches: Iterator[Batch]
    ctx: StepContext
    writer: Any = None
    bar: Any = None
    old_handler: Any = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
        if self.old_handler is not None:
            signal.signal(signal.SIGTERM, self.old_handler)


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
        self.validation_seconds = 0.0   # the part of ``seconds`` spent validating (all sessions)
        self._t0 = time.time()
        #: check losses for NaN/inf in batches (see StepContext); None: on any device but the CPU
        self.defer_finite_check: bool | None = None
        self._ctx: StepContext | None = None
        self._signal_seen = False   # a SIGTERM arrived in this process (acted on at a step all ranks agree on)
        #: this process's place in a torchrun job (None: training alone); set by ``fit``
        self.dist: distributed.DistEnv | None = None
        self.compiled: list[str] = []   # the networks torch.compile'd (TrainConfig.compile)

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and logs: always alone, rank 0 in a torchrun job."""
        return self.dist is None or self.dist.main

    @property
    def seconds(self) -> float:
        """Wall-clock training seconds so far, over all sessions of this run."""
        return self.seconds_before + (time.time() - self._t0)

    @property
    def train_seconds(self) -> float:
        """``seconds`` without the time spent validating: what a wall-clock budget (max_seconds) counts."""
        return self.seconds - self.validation_seconds

    # -- the loop -----------------------------------------------------------------
    def fit(self, model: "KitModel", train_data: ProductData, val_data: ProductData | None = None,
            resume: bool = False, force: bool = False) -> TrainResult:
        """Train ``model`` until max_steps or early stopping; returns what happened.

        ``resume``: continue from the newest valid checkpoint in the run folder. ``force``:
        start over in a folder that already holds a run (its checkpoints are removed).
        Without either, a folder holding a run is refused rather than overwritten. One
        trainer at a time may use a run folder (see :class:`RunLock`).
        """
        joined = self._join_job()
        try:
            with self._claim_folder():
                self._setup(model, resume, force)
                loop = self._start(model, train_data)
                stopped_early = False
                try:
                    while self.step < self.config.max_steps:
                        logs = self._train_step(model, loop)
                        self._log(logs, loop)
                        self._poll_stop_signal()
                        if self._due(self.config.val_every):
                            stopped_early = self._validation(model, val_data, loop)
                        if self._due(self.config.checkpoint_every) or stopped_early or self._stop_signal \
                                or self._time_up():
                            self.save(model, "last")
                        if self._stopping(stopped_early):
                            break
                except torch.cuda.OutOfMemoryError:
                    raise classroom.out_of_memory(self.config.batch_size, "training", device=self.device) from None
                except KeyboardInterrupt:
                    self.save(model, "last")
                    print(f"\nInterrupted at step {self.step}; saved {self.out_dir / 'last'}. Resume with --resume.")
                    raise
                finally:
                    loop.close()
                return self._finish(model, stopped_early)
        finally:
            if joined:
                distributed.shutdown()

    # -- data-parallel jobs -----------------------------------------------------------
    def _join_job(self) -> bool:
        """Under torchrun: this rank's device, and the process group joined. True when this call joined it."""
        env = distributed.env_from()
        if env is None:
            return False
        self.dist = env
        self.device = distributed.device_for(env, self.device)
        already = distributed.dist.is_initialized()
        distributed.init(env, self.device)
        return not already

    def _claim_folder(self) -> Any:
        """Prepare and lock the run folder (rank 0 alone in a job; the others learn whether it worked)."""
        if self.dist is None:
            self._prepare_folder()
            return RunLock(self.out_dir)
        lock: RunLock | None = None
        problem: Exception | None = None
        if self.dist.main:
            try:
                self._prepare_folder()
                lock = RunLock(self.out_dir).acquire()
            except (RunFolderError, RunLockedError) as err:
                problem = err
        message = distributed.broadcast(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if message is not None:
            raise distributed.DistributedSetupError(f"rank 0 cannot use the run folder: {message}")
        return _Released(lock)

    # -- the parts of fit -------------------------------------------------------------
    def _prepare_folder(self) -> None:
        """Create the run folder (a clear RunFolderError when that is impossible) and clean stale temp files."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            probe = self.out_dir / f".write-test.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise RunFolderError(
                f"cannot write the run folder {safe_text(self.out_dir, 300)} ({err.strerror or err}); "
                "choose a writable --out folder (not under a file, not read-only, with free space).", err.errno) from None
        for stale in clean_stale_temps(self.out_dir):
            print(f"Removed {safe_text(stale.name, 120)}, left by a save that was killed.")

    def _existing_run(self) -> list[Path]:
        return [self.out_dir / f"{n}{s}" for n in _CHECKPOINT_NAMES for s in (".json", ".safetensors", ".safetensors.prev")
                if (self.out_dir / f"{n}{s}").exists()]

    def _setup(self, model: "KitModel", resume: bool, force: bool) -> None:
        """Seed, optimisers, schedulers; then resume, start over (force) or refuse to overwrite a run."""
        c = self.config
        torch.manual_seed(c.seed)
        model.to(self.device).train()
        if c.channels_last:
            acceleration.to_channels_last(model)
        if self.dist is not None:
            distributed.wrap_networks(model, self.device, sync_bn=c.sync_batchnorm)
        if c.compile:
            self.compiled = acceleration.compile_networks(model, model.distributed_networks(), self.device, c.compile_mode)
        self.optimizers = model.configure_optimizers(c.effective_lr)
        self._make_schedulers()
        existing = self._existing_run()
        if resume:
            if existing:
                self._resume(model)
            else:
                print(f"No checkpoint in {self.out_dir} to resume from; starting at step 0.")
        elif existing and not force:
            step = self._peek_step()
            raise RunFolderError(
                f"{safe_text(self.out_dir, 300)} already holds a run{f' (at step {step})' if step is not None else ''}; "
                "pass --resume (resume=True) to continue it, --force (force=True) to start over and replace it, "
                "or choose another --out folder.")
        elif existing and self.is_main:
            for p in existing:
                p.unlink(missing_ok=True)
            print(f"Starting over in {self.out_dir}: its earlier checkpoints were removed (force).")

    def _peek_step(self) -> int | None:
        for name in _CHECKPOINT_NAMES:
            try:
                return int(read_sidecar(self.out_dir / name).get("step") or 0)
            except (CheckpointError, ValueError, TypeError):
                continue
        return None

    def _start(self, model: "KitModel", train_data: ProductData) -> _Loop:
        """Batches from the current step, the TensorBoard writer, the progress bar and the SIGTERM handler."""
        c = self.config
        shard = None if self.dist is None else (self.dist.rank, self.dist.world_size)
        if shard is not None and c.batch_size % shard[1]:
            raise distributed.DistributedSetupError(
                f"batch_size {c.batch_size} does not split into {shard[1]} equal shards; use a multiple of {shard[1]} "
                "(the global batch is the same as in one process; each process takes batch_size / nproc items).")
        batches = BatchIterator(train_data, c.batch_size, self.device, shuffle=True, seed=c.seed,
                                extra=model.batch_extra(train_data), shard=shard).batches(self.step)
        writer = self._writer() if self.is_main else None
        self._t0 = time.time()
        deferred = self.device.type != "cpu" if self.defer_finite_check is None else self.defer_finite_check
        self._ctx = StepContext(self, deferred=deferred)
        self._ctx.shard = shard
        old_handler = signal.signal(signal.SIGTERM, self._on_signal) if _main_thread() else None
        return _Loop(batches, self._ctx, writer, self._bar(model) if self.is_main else None, old_handler)

    def _train_step(self, model: "KitModel", loop: _Loop) -> dict[str, torch.Tensor]:
        """One batch through ``training_step``; advances the step counter and a cosine schedule."""
        batch = next(loop.batches)
        if self.config.channels_last:
            batch.x = acceleration.channels_last_batch(batch.x)
        loop.ctx.step_index = self.step + 1
        with self._autocast():
            logs = model.training_step(batch, loop.ctx)
        model.after_step(self.step + 1)
        self.step += 1
        for s in self.schedulers.values():       # per-step schedules (cosine, warm-up); plateau steps at validation
            if not isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step()
        return logs

    def _poll_stop_signal(self) -> None:
        """Act on a SIGTERM: at once when alone; in a job at the next log step, on every rank together."""
        if self.dist is None:
            self._stop_signal = self._signal_seen
        elif self._due(self.config.log_every):
            self._stop_signal = distributed.any_rank(self._signal_seen, self.device)

    def _due(self, every: int) -> bool:
        return self.step % every == 0 or self.step == self.config.max_steps

    def _log(self, logs: dict[str, torch.Tensor], loop: _Loop) -> None:
        """Every log_every steps: scalars to TensorBoard and the progress bar's postfix."""
        if self._due(self.config.log_every):
            loop.ctx.check()
            values = {k: float(v) for k, v in logs.items()}
            if loop.writer is not None:
                for k, v in values.items():
                    loop.writer.add_scalar(f"train/{k}", v, self.step)
            if loop.bar is not None:
                loop.bar.set_postfix({k: f"{v:.4g}" for k, v in list(values.items())[:4]}, refresh=False)
        if loop.bar is not None:
            loop.bar.update(1)

    def _validation(self, model: "KitModel", val_data: ProductData | None, loop: _Loop) -> bool:
        """Validation metrics, plateau schedule, best checkpoint; True when early stopping says stop."""
        c = self.config
        loop.ctx.check()
        started = time.time()
        metrics = self._validate(model, val_data, loop.writer)
        if loop.writer is not None:
            self._log_images(model, loop.writer)
        self.validation_seconds += time.time() - started
        key = c.early_stop_metric
        if not key:
            return False
        if key not in metrics:
            raise KeyError(f"early_stop_metric {key!r} is not among the validation metrics {sorted(metrics)}.")
        value = metrics[key]
        for s in self.schedulers.values():
            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step(value)
        if self._improved(value):
            self.best, self.bad_validations = value, 0
            self.save(model, "best")
            return False
        self.bad_validations += 1
        return self.bad_validations >= c.patience

    def _stopping(self, stopped_early: bool) -> bool:
        c = self.config
        if stopped_early:
            print(f"Early stopping at step {self.step}: {c.early_stop_metric} has not improved for "
                  f"{c.patience} validations (best {self.best:.4g}).")
            return True
        if self._stop_signal:
            print(f"Stopped by a signal at step {self.step}; saved {self.out_dir / 'last'}. Resume with --resume.")
            return True
        if self._time_up():
            if self.is_main:
                print(f"Stopped at step {self.step}: the training time budget of {self.config.max_seconds:g} s is spent.")
            return True
        return False

    def _time_up(self) -> bool:
        """The wall-clock budget is spent (decided by rank 0 in a job, at log steps, so every rank stops together)."""
        if self.config.max_seconds is None:
            return False
        if self.dist is None:
            return self.train_seconds >= self.config.max_seconds
        if not self._due(self.config.log_every):
            return False
        return bool(distributed.broadcast(self.train_seconds >= self.config.max_seconds))

    def _finish(self, model: "KitModel", stopped_early: bool) -> TrainResult:
        model.eval()
        peak = classroom.peak_memory(self.device)
        if self.config.progress:
            print(peak.line())
        return TrainResult(self.step, stopped_early, self.best, list(self.history), self.out_dir, self.seconds,
                           peak.as_dict())

    # -- checkpoints ----------------------------------------------------------
    def _state(self, model: "KitModel") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
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
            "validation_seconds": self.validation_seconds,
            "data_fingerprint": self.data_fingerprint,
            "optimizers": {n: split_state(o.state_dict(), f"optim/{n}", tensors) for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "rng": split_state(rng, "rng", tensors),
        }
        return tensors, meta

    def save(self, model: "KitModel", name: str = "last") -> Path:
        if self._ctx is not None:
            self._ctx.check()       # never save weights that a non-finite loss has already touched
        if not self.is_main:        # in a job, rank 0 writes (every rank holds the same weights)
            return self.out_dir / name
        tensors, meta = self._state(model)
        return save_checkpoint(self.out_dir / name, tensors, meta)

    def _newest_checkpoint(self) -> Checkpoint:
        """The valid checkpoint with the highest step among ``last`` and ``best``.

        ``best`` wins when ``last`` is missing or damaged, or older (a run killed between
        saving ``best`` and ``last``). CheckpointError naming both when neither loads.
        """
        found: list[Checkpoint] = []
        problems: list[str] = []
        for name in _CHECKPOINT_NAMES:
            stem = self.out_dir / name
            if not (stem.with_suffix(".json").exists() or stem.with_suffix(".safetensors").exists()):
                continue
            if found:   # compare steps from the sidecar before loading a second set of weights
                try:
                    if int(read_sidecar(stem).get("step") or 0) <= int(found[0].meta.get("step") or 0):
                        continue
                except CheckpointError:
                    continue
            try:
                found.insert(0, load_checkpoint(stem))
            except CheckpointError as err:
                problems.append(str(err))
        if not found:
            raise CheckpointError(f"no checkpoint in {safe_text(self.out_dir, 300)} can be resumed: "
                                  + " / ".join(problems) + " Pass --force to start over.")
        if problems:
            print(f"Note: {safe_text(problems[0], 400)} Resuming from {found[0].path.name} instead.")
        return found[0]

    def _resume(self, model: "KitModel") -> None:
        ckpt = self._newest_checkpoint()
        check_compatible(ckpt.meta, model.arch, model.config_dict(), where=f"checkpoint {ckpt.path}",
                         defaults=config_defaults(type(model.config)))
        if self.data_fingerprint and ckpt.meta.get("data_fingerprint") not in (None, self.data_fingerprint):
            raise CheckpointError(
                f"{ckpt.path} was trained on other data (fingerprint {ckpt.meta['data_fingerprint']}, "
                f"now {self.data_fingerprint}); resume with the same data and mode, or start a new --out folder."
            )
        model.load_weights(ckpt)
        try:
            for name, opt in self.optimizers.items():
                opt.load_state_dict(optimizer_state_from_json(join_state(ckpt.meta["optimizers"][name], ckpt.tensors)))
                _match_param_layout(opt)
            for name, sched in self.schedulers.items():
                sched.load_state_dict(ckpt.meta["schedulers"][name])
            rng = join_state(ckpt.meta["rng"], ckpt.tensors)
            torch.set_rng_state(rng["cpu"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
            self.step = int(ckpt.meta["step"])
            self.history = list(ckpt.meta.get("history") or [])
            self.best = ckpt.meta.get("best_metric")
            self.bad_validations = int(ckpt.meta.get("bad_validations") or 0)
            self.seconds_before = float(ckpt.meta.get("seconds") or 0.0)
            self.validation_seconds = float(ckpt.meta.get("validation_seconds") or 0.0)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{ckpt.path}: the optimiser, schedule or random state cannot be restored "
                                  f"({type(err).__name__}: {safe_text(err, 200)}); it was not written by this "
                                  "trainer for this model. Pass --force to start over.") from None
        print(f"Resumed from {ckpt.path} at step {self.step}.")

    # -- helpers ----------------------------------------------------------------
    def _make_schedulers(self) -> None:
        c = self.config
        for name, opt in self.optimizers.items():
            if c.warmup_steps:
                def factor(step: int) -> float:
                    return acceleration.warmup_cosine_factor(step, c.warmup_steps, c.max_steps, c.lr_schedule == "cosine")

                self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            elif c.lr_schedule == "cosine":
                self.schedulers[name] = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.max_steps)
            elif c.lr_schedule == "plateau":
                self.schedulers[name] = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    opt, mode="max" if c.early_stop_mode == "max" else "min", factor=0.5, patience=c.plateau_patience)

    def _improved(self, value: float) -> bool:
        if self.best is None or not math.isfinite(self.best):
            return True
        return value < self.best if self.config.early_stop_mode == "min" else value > self.best

    def _on_signal(self, signum, frame) -> None:  # SIGTERM: finish the step, save, stop
        self._signal_seen = True

    def _validate(self, model, val_data, writer) -> dict[str, float]:
        metrics: dict[str, float] | None = None
        if self.is_main:                            # in a job, rank 0 validates and tells the others
            model.eval()
            with torch.no_grad():
                metrics = model.validate(val_data) if val_data is not None else {}
            model.train()
        if self.dist is not None:
            metrics = distributed.broadcast(metrics)
        assert metrics is not None
        entry = {"step": self.step, "seconds": round(self.seconds, 1), "train_seconds": round(self.train_seconds, 1),
                 **{k: float(v) for k, v in metrics.items()}}
        for name in self.schedulers:
            entry[f"lr_{name}"] = self.optimizers[name].param_groups[0]["lr"]
        self.history.append(entry)
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"val/{k}", v, self.step)
        return metrics

    def _autocast(self):
        return acceleration.autocast(self.device, self.config.amp, self.config.amp_cpu)

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
            from torchvision.utils import make_grid  # torchvision's import pulls in torch._dynamo: seconds

            writer.add_image("samples", make_grid(imgs.float().clamp(0, 1).cpu(), nrow=8), self.step)


class _Released(contextlib.AbstractContextManager):
    """Releases a lock (or nothing) on exit."""

    def __init__(self, lock: RunLock | None) -> None:
        self.lock = lock

    def __exit__(self, *exc: Any) -> None:
        if self.lock is not None:
            self.lock.release()


def _match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Store each loaded optimiser state tensor in its parameter's memory layout (e.g. channels-last).

    Checkpoints hold contiguous tensors; a fused optimiser steps parameter and state
    element by element in memory order, so the two layouts must agree.
    """
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def data_fingerprint(data: ProductData) -> str:
    """A short hash of a split's images and labels, recorded in checkpoints."""
    h = hashlib.sha256()
    h.update(data.images.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return f"{data.name}:{data.split}:{len(data)}:{h.hexdigest()[:16]}"
