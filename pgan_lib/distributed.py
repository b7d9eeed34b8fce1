"""Data-parallel training with PyTorch's own engine: ``torchrun`` + ``torch.distributed`` + DDP.

``torchrun --nproc_per_node N -m pgan_lib.cli train RECIPE`` (or ``pgan train RECIPE --nproc N``)
starts N copies of the trainer with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set. Each one:

    joins the process group            nccl between GPUs, gloo between CPU processes
    takes its shard of every batch     global batch B (the 1-process batch), rank r keeps items
                                       [r B/N, (r+1) B/N) of the (seed, step) order, so resuming is exact
    draws the global batch's noise     and keeps its rows (``models.base.batch_noise``)
    averages gradients                 each trained network is wrapped in DistributedDataParallel:
                                       after backward, grad <- (1/N) sum over ranks (an all-reduce)

Because every loss is a mean over its shard, the average of the N shard gradients is the
gradient of the mean over the global batch: N processes take the same steps as one process
on the whole batch, up to the order of floating-point sums.

BatchNorm is the exception: it normalises with its batch's statistics, and a shard is not
the batch. The trained networks' BatchNorm layers are made synchronous (the mean and
variance are all-reduced over the global batch): ``torch.nn.SyncBatchNorm`` on GPUs, and on
the CPU, where PyTorch's SyncBatchNorm does not run, :class:`AllReduceBatchNorm2d` (the same
statistics through a differentiable all-reduce). Rank 0 alone writes checkpoints, logs and
TensorBoard; validation runs on rank 0 and its numbers are sent to the others, so every
rank takes the same early-stopping decision.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


class DistributedSetupError(ValueError):
    """The torchrun environment is inconsistent, or the model cannot be trained data-parallel."""


def env_from(environ: dict[str, str] | None = None) -> DistEnv | None:
    """The torchrun job this process belongs to (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or None when alone."""
    e = os.environ if environ is None else environ
    if "WORLD_SIZE" not in e or "RANK" not in e:
        return None
    try:
        world, rank, local = int(e["WORLD_SIZE"]), int(e["RANK"]), int(e.get("LOCAL_RANK", e["RANK"]))
    except ValueError:
        raise DistributedSetupError(f"RANK={e.get('RANK')!r}, WORLD_SIZE={e.get('WORLD_SIZE')!r} are not whole numbers; "
                                    "start the job with torchrun (or pgan train --nproc N).") from None
    if world < 1 or not 0 <= rank < world:
        raise DistributedSetupError(f"RANK={rank} does not fit WORLD_SIZE={world}; start the job with torchrun.")
    return None if world == 1 else DistEnv(rank, world, local)


def backend_for(device: torch.device) -> str:
    """nccl between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def device_for(env: DistEnv, device: torch.device) -> torch.device:
    """Rank's device: GPU ``LOCAL_RANK`` when training on CUDA (one GPU per process), else ``device``."""
    if device.type != "cuda":
        return device
    if env.local_rank >= torch.cuda.device_count():
        raise DistributedSetupError(f"LOCAL_RANK {env.local_rank} but this machine has {torch.cuda.device_count()} GPU(s); "
                                    "start at most one process per GPU (--nproc).")
    return torch.device("cuda", env.local_rank)


def init(env: DistEnv, device: torch.device) -> None:
    """Join the job's process group (torchrun's rendezvous variables), unless already joined."""
    if dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), rank=env.rank, world_size=env.world_size,
                            timeout=timedelta(minutes=30))


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """y = sum over ranks of x; its gradient is the sum over ranks of dL/dy (every rank's loss depends on every x)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone()
        dist.all_reduce(g)
        return g


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the global batch of all processes, for CPU (gloo) training.

        mean = sum_r S1_r / sum_r n_r,   var = sum_r S2_r / sum_r n_r - mean^2
        with S1_r, S2_r the per-channel sums of x and x^2 over rank r's n_r values,

    through a differentiable all-reduce whose backward all-reduces the gradients, so every
    rank's inputs get the gradient of the global normalisation (what ``torch.nn.SyncBatchNorm``
    does on GPUs). Alone, or in eval mode, it is plain BatchNorm.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        xf = x.float()
        local = torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)),
                           torch.tensor([x.numel() / c], dtype=torch.float32, device=x.device)])   # (2C + 1,)
        total = _AllReduceSum.apply(local)
        n = total[-1]
        mean = total[:c] / n                                          # (C,)
        var = (total[c:2 * c] / n - mean * mean).clamp(min=0.0)       # (C,), biased: used to normalise
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                assert self.num_batches_tracked is not None
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp(min=1.0), m)   # unbiased, as BatchNorm
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with its BatchNorm layers computing global-batch statistics (same parameters and buffers).

    GPUs: ``torch.nn.SyncBatchNorm``; CPU: :class:`AllReduceBatchNorm2d`. The state-dict keys do not change.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:
            new = AllReduceBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            if child.affine:
                new.weight, new.bias = child.weight, child.bias     # the same Parameters (optimisers may hold them)
            new.train(child.training)
            setattr(module, name, new)
        else:
            sync_batchnorm(child, device)
    return module


def wrap_networks(model: Any, device: torch.device, sync_bn: bool = True) -> None:
    """Wrap each of ``model.distributed_networks()`` in DistributedDataParallel (BatchNorm made synchronous first).

    The wrappers are handed to the model (``set_wrapped_networks``) and reached through
    ``model.net(name)``; the networks themselves stay where they are, so the state dict
    and checkpoints are those of a 1-process run.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP  # only needed in a job

    names = model.distributed_networks()
    if not names:
        raise DistributedSetupError(
            f"{type(model).__name__} ({model.arch}) does not support data-parallel training (it lists no "
            "distributed_networks); train it in one process (without --nproc or torchrun).")
    wrapped = {}
    for name in names:
        net = getattr(model, name)
        if sync_bn:
            net = sync_batchnorm(net, device)
            setattr(model, name, net)
        wrapped[name] = DDP(net, device_ids=[device] if device.type == "cuda" else None)   # buffers follow rank 0
    model.set_wrapped_networks(wrapped)


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (e.g. a stop signal)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
