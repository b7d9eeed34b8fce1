"""A tiny class-conditional GAN trained by the kit's Trainer: run alone or under torchrun by tests/test_distributed.py.

    python tests/distributed_worker.py OUT --steps 20 [--resume] [--sleep 0.2]
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py OUT --steps 20

Every checkpoint save is recorded as a line "rank NAME STEP" in OUT/saves.txt (so a test can
see which processes wrote), and the final model tensors go to OUT/final-rank<R>.pt.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgan_lib import train as train_module  # noqa: E402
from pgan_lib.data.base import ProductData  # noqa: E402
from pgan_lib.models.gan import GAN, GANConfig  # noqa: E402
from pgan_lib.train import TrainConfig, Trainer  # noqa: E402


def tiny_fashion(n: int = 128) -> ProductData:
    """Two classes of bright bars on 28x28 noise."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    imgs = torch.rand(n, 1, 28, 28, generator=gen) * 60
    imgs[labels == 0, :, 6:22, 4:10] += 180
    imgs[labels == 1, :, 6:22, 18:24] += 180
    return ProductData(name="tiny28", split="train", images=imgs.clamp(0, 255).to(torch.uint8),
                       descriptions=[f"item {i}" for i in range(n)], labels=labels, class_names=["left", "right"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--sgd", action="store_true",
                   help="plain SGD with momentum instead of Adam (Adam's first steps amplify rounding in near-zero gradients)")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each step (to be killed mid-run)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.out)

    real_save = train_module.save_checkpoint

    def recording_save(stem, tensors, meta):
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "saves.txt", "a") as f:
            f.write(f"{rank} {Path(stem).name} {meta['step']}\n")
        return real_save(stem, tensors, meta)

    train_module.save_checkpoint = recording_save   # type: ignore[assignment]
    torch.manual_seed(0)
    model = GAN(GANConfig(channels=1, size=28, latent_dim=16, g_width=8, d_width=8, cond="label", num_classes=2,
                          cond_dim=8, ema_decay=0.9))
    if args.sgd:
        def sgd(lr: float) -> dict[str, torch.optim.Optimizer]:
            return {"d": torch.optim.SGD(model.discriminator.parameters(), lr=lr, momentum=0.9),
                    "g": torch.optim.SGD(model.generator.parameters(), lr=lr, momentum=0.9)}

        model.configure_optimizers = sgd   # type: ignore[method-assign]
    if args.sleep:
        after = model.after_step

        def slow_after_step(step: int) -> None:
            after(step)
            time.sleep(args.sleep)

        model.after_step = slow_after_step   # type: ignore[method-assign]
    config = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, lr=1e-2 if args.sgd else 1e-3, seed=5,
                         log_every=5, val_every=10**6, checkpoint_every=args.checkpoint_every, tensorboard=True,
                         progress=False)
    Trainer(config, out / "run").fit(model, tiny_fashion(), resume=args.resume)
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, out / f"final-rank{rank}.pt")


if __name__ == "__main__":
    main()
