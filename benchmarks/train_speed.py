"""Training speed and quality at equal wall-clock: a plain PyTorch loop vs the kit's trainer, on one device.

    plain loop   what one writes the obvious way: a Dataset that makes a PIL image and applies
                 ToTensor() + Normalize() to every item, a DataLoader, D called on real and fake
                 images separately, torch.optim.Adam with its defaults, an EMA updated parameter by
                 parameter, and ``.item()`` of both losses at every step (a host sync per step)
    kit trainer  ``pgan_lib.train.Trainer`` on the recipe's model and settings (device-resident
                 batches, fused/foreach Adam, foreach EMA, deferred finite checks), plus any of the
                 opt-in settings given with --kit (channels_last, amp_cpu, compile)

Both train the same networks (the ``cgan-fashion`` recipe's G and D, the same initial
weights). For each it prints images/s of whole training steps, the seconds one
Fashion-MNIST epoch (55,000 images) takes at that speed, and the validation FID
(kit classifier features, ``eval.judges.SampleQuality`` on the validation split, the
recipe's 2,000 samples in full mode) after ``--budget`` seconds of training (the FID
evaluation itself is not counted). With ``--curve`` the kit's run also validates every
``--eval-every`` seconds of training and reports when the FID first reached ``--target-fid``.

    python benchmarks/train_speed.py --device cpu --budget 60 --json runs/bench/train_speed.json
    python benchmarks/train_speed.py --device cuda --budget 60 --batch-size 512 --lr-scaling sqrt --warmup-steps 100
    python benchmarks/train_speed.py --skip-plain --budget 180 --curve --kit channels_last   # time-to-quality only

Timings on a shared machine are upper bounds: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgan_lib.cli.common import machine_line, write_json  # noqa: E402
from pgan_lib.config import get_mode, pick_device  # noqa: E402
from pgan_lib.data import load_dataset  # noqa: E402
from pgan_lib.eval.judges import SampleQuality  # noqa: E402
from pgan_lib.models.gan import GAN  # noqa: E402
from pgan_lib.recipes import get_recipe  # noqa: E402
from pgan_lib.train import TrainConfig, Trainer  # noqa: E402

EPOCH = 55_000  # Fashion-MNIST training images (60,000 less the 5,000 held out for validation)
KIT_OPTIONS = ("channels_last", "amp_cpu", "compile")


class TorchvisionStyleDataset(Dataset):
    """Item i: PIL image -> ToTensor() -> Normalize(0.5, 0.5), i.e. float (1, 28, 28) in [-1, 1], and its label."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i], mode="L")), int(self.labels[i])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(model: GAN, data, device: torch.device, batch_size: int, lr: float, workers: int,
               budget: float, warmup: int) -> dict[str, Any]:
    """Train ``model``'s G and D the obvious way for ``budget`` seconds; images/s after ``warmup`` steps."""
    G, D = model.generator.to(device).train(), model.discriminator.to(device).train()
    g_ema = model.g_ema.to(device)
    c = model.config
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(c.beta1, c.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(c.beta1, c.beta2))
    loader = DataLoader(TorchvisionStyleDataset(data.images[:, 0].numpy(), data.labels.numpy()), batch_size=batch_size,
                        shuffle=True, drop_last=True, num_workers=workers, pin_memory=device.type == "cuda",
                        persistent_workers=workers > 0)
    losses: list[tuple[float, float]] = []
    step, t_start, t_timed = 0, time.perf_counter(), None
    while True:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            z = torch.randn(x.shape[0], c.latent_dim, device=device)
            fake = G(z, y)
            loss_d = F.relu(1 - D(x, y)).mean() + F.relu(1 + D(fake.detach(), y)).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = -D(fake, y).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            decay = min(c.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(g_ema.parameters(), G.parameters()):
                    pe.mul_(decay).add_(p, alpha=1 - decay)
                for be, b in zip(g_ema.buffers(), G.buffers()):
                    be.copy_(b)
            losses.append((loss_d.item(), loss_g.item()))
            step += 1
            if step == warmup:
                t_timed = time.perf_counter()
            if time.perf_counter() - t_start >= budget:
                _sync(device)
                end = time.perf_counter()
                if t_timed is not None and step > warmup:
                    rate = (step - warmup) * batch_size / (end - t_timed)
                else:
                    rate = step * batch_size / (end - t_start)
                return {"steps": step, "seconds": end - t_start, "img_per_s": rate}


def kit_run(model: GAN, data, val, device: torch.device, cfg: TrainConfig, warmup: int, eval_every: float | None,
            out: Path) -> dict[str, Any]:
    """The kit's Trainer for ``cfg.max_seconds`` seconds of training (validating when ``eval_every`` is given)."""
    marks: dict[int, float] = {}
    after = model.after_step

    def timed_after_step(step: int) -> None:
        after(step)
        if step == warmup:
            _sync(device)
            marks[step] = time.perf_counter()

    model.after_step = timed_after_step  # type: ignore[method-assign]
    trainer = Trainer(cfg, out, device=device)
    result = trainer.fit(model, data, val if eval_every else None, force=True)
    _sync(device)
    end = time.perf_counter()
    model.after_step = after  # type: ignore[method-assign]
    if warmup in marks and result.steps > warmup:   # steps after the warm-up, validation time taken out
        rate = (result.steps - warmup) * cfg.batch_size / (end - marks[warmup] - trainer.validation_seconds)
    else:                                           # too few steps for a warm-up: all of them
        rate = result.steps * cfg.batch_size / max(trainer.train_seconds, 1e-9)
    return {"steps": result.steps, "seconds": trainer.train_seconds, "img_per_s": rate, "history": result.history,
            "compiled": trainer.compiled}


def fid(model: GAN, val, n: int) -> float:
    model.eval()
    with torch.no_grad():
        return float(SampleQuality("fashion-classifier", n)(model, val)["val_fid"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: best available)")
    p.add_argument("--recipe", default="cgan-fashion")
    p.add_argument("--mode", default="full", choices=("quick", "full"), help="data size (full: 55,000 images)")
    p.add_argument("--budget", type=float, default=60.0, help="training seconds per run (FID evaluation not counted)")
    p.add_argument("--warmup", type=int, default=10, help="steps before the throughput clock starts")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    p.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    p.add_argument("--lr-scaling", choices=("none", "sqrt", "linear"), default="none")
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--kit", default="", help=f"comma-separated opt-in kit settings: {', '.join(KIT_OPTIONS)}")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: as set by OMP_NUM_THREADS)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of the plain loop")
    p.add_argument("--fid-samples", type=int, default=None, help="default: the recipe's validation samples")
    p.add_argument("--skip-plain", action="store_true", help="run the kit's trainer only")
    p.add_argument("--curve", action="store_true", help="validate the kit's run during training (FID over time)")
    p.add_argument("--eval-every", type=float, default=30.0, help="seconds of training between validations (--curve)")
    p.add_argument("--target-fid", type=float, default=10.0)
    p.add_argument("--reference", default="fashion-cgan",
                   help="shipped generator whose FID is measured the same way, for comparison ('' for none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    options = [o for o in args.kit.split(",") if o]
    unknown = sorted(set(options) - set(KIT_OPTIONS))
    if unknown:
        p.error(f"--kit {','.join(unknown)}: use any of {', '.join(KIT_OPTIONS)}")
    device = pick_device(args.device, announce=False)
    recipe = get_recipe(args.recipe)
    settings = get_mode(args.mode)
    data = load_dataset(recipe.source, "train", mode=settings.name, size=recipe.size)
    val = load_dataset(recipe.source, "val", mode=settings.name, size=recipe.size)
    base = recipe.train_config(settings.name)
    batch = args.batch_size or base.batch_size
    cfg = replace(base, batch_size=batch, lr=args.lr or base.lr, lr_scaling=args.lr_scaling, warmup_steps=args.warmup_steps,
                  max_steps=10**9, max_seconds=args.budget, early_stop_metric=None, lr_schedule="none",
                  checkpoint_every=10**9, tensorboard=False, progress=False, seed=args.seed,
                  **{o: True for o in options})
    torch.manual_seed(args.seed)
    template = recipe.build(data, settings)
    n_fid = args.fid_samples or template.config.val_samples
    machine = machine_line()
    print(f"{machine}; device {device}")
    print(f"recipe {args.recipe} ({settings.name}): {len(data)} training / {len(val)} validation images, "
          f"batch {batch}, lr {cfg.effective_lr:.3g} ({args.lr_scaling}, warm-up {args.warmup_steps}), "
          f"budget {args.budget:g} s, FID of {n_fid} samples; kit options: {', '.join(options) or 'none'}\n")

    rows: list[dict[str, Any]] = []
    if not args.skip_plain:
        model = copy.deepcopy(template)
        torch.manual_seed(args.seed)
        run = plain_loop(model, data, device, batch, cfg.effective_lr, args.workers, args.budget, args.warmup)
        rows.append({"name": "plain loop", **run, "fid": fid(model, val, n_fid), "load": machine_line().split("load ")[-1]})
    model = copy.deepcopy(template)
    val_every = 10**9   # with --curve: set from the measured speed below
    with tempfile.TemporaryDirectory() as tmp:
        if args.curve:   # a short run to measure the speed, then validations every eval_every seconds
            probe = kit_run(copy.deepcopy(template), data, val, device, replace(cfg, max_seconds=min(10.0, args.budget)),
                            min(args.warmup, 5), None, Path(tmp) / "probe")
            val_every = max(1, int(args.eval_every * probe["img_per_s"] / batch))
            model.judges = [SampleQuality("fashion-classifier", n_fid)]
        run_cfg = replace(cfg, val_every=val_every) if args.curve else cfg
        run = kit_run(model, data, val, device, run_cfg, args.warmup, args.eval_every if args.curve else None,
                      Path(tmp) / "kit")
    model.judges = []
    row = {"name": "kit trainer" + (f" + {'+'.join(options)}" if options else ""), **run,
           "fid": fid(model, val, n_fid), "load": machine_line().split("load ")[-1]}
    if args.curve:
        hits = [h for h in run["history"] if h.get("val_fid", float("inf")) <= args.target_fid]
        row["seconds_to_target"] = hits[0]["train_seconds"] if hits else None
        row["curve"] = [(h["train_seconds"], h["step"], round(h["val_fid"], 2)) for h in run["history"]]
    rows.append(row)

    if args.reference:
        from pgan_lib import pretrained

        if pretrained.available(args.reference):
            ref = pretrained.load(args.reference, device=device)
            rows.append({"name": f"shipped {args.reference}", "steps": 0, "img_per_s": float("nan"),
                         "seconds": float("nan"), "fid": fid(ref, val, n_fid), "load": machine_line().split("load ")[-1]})
    print(f"{'run':34s} {'steps':>7s} {'img/s':>8s} {'epoch s':>8s} {'FID @ budget':>13s} {'load':>6s}")
    for r in rows:
        print(f"{r['name']:34s} {r['steps']:7d} {r['img_per_s']:8,.0f} {EPOCH / r['img_per_s']:8.1f} {r['fid']:13.2f} "
              f"{r['load']:>6s}")
    if not args.skip_plain:
        print(f"\nkit / plain images per second: {rows[1]['img_per_s'] / rows[0]['img_per_s']:.2f}x")
    if args.curve:
        print("kit validation FID over training seconds: "
              + ", ".join(f"{s:.0f} s: {f:.1f}" for s, _, f in row["curve"]))
        print(f"first at or below FID {args.target_fid:g}: "
              + (f"{row['seconds_to_target']:.0f} s of training" if row["seconds_to_target"] is not None else "not reached"))
    print("(timings on a shared machine are upper bounds)")
    if args.json:
        write_json(args.json, {"machine": machine, "device": str(device), "recipe": args.recipe, "mode": settings.name,
                               "batch_size": batch, "lr": cfg.effective_lr, "budget_s": args.budget, "kit_options": options,
                               "fid_samples": n_fid, "epoch_images": EPOCH,
                               "runs": [{k: v for k, v in r.items() if k != "history"} for r in rows]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
