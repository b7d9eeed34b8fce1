"""``pgan train``, ``pgan sample`` and ``pgan generate``."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model with one of the kit's recipes")
    train.add_argument("recipe", help="recipe name, e.g. vae-fashion (pgan train --list shows all)", nargs="?")
    train.add_argument("--list", action="store_true", help="list the recipes and exit")
    train.add_argument("--mode", choices=("quick", "full"), default=None, help="run size (default: $PGAN_MODE or quick)")
    train.add_argument("--out", default=None, help="run folder (default: runs/RECIPE-MODE)")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    train.add_argument("--steps", type=int, default=None, help="override the number of training steps")
    train.add_argument("--seed", type=int, default=None, help="override the seed")
    train.set_defaults(func=train_command)

    sample = sub.add_parser("sample", help="draw samples from a generator into an .npz file")
    _model_args(sample)
    sample.add_argument("--n", type=int, default=64, help="number of samples (per prompt with --prompts)")
    sample.add_argument("--labels", default=None, help="'all' (cycle through the classes) or a class index")
    sample.add_argument("--prompt", default=None, help="one description for every sample")
    sample.add_argument("--prompts", default=None, help="a text file with one description per line")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--batch-size", type=int, default=500)
    sample.add_argument("--out", required=True, help="output .npz (images uint8 (N,H,W,C), labels, prompts)")
    sample.set_defaults(func=sample_command)

    gen = sub.add_parser("generate", help="product images for a description, as a PNG grid")
    gen.add_argument("prompt", help='e.g. "a dark slim ankle boot"')
    _model_args(gen)
    gen.add_argument("--n", type=int, default=16)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output PNG")
    gen.set_defaults(func=generate_command)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="a checkpoint (.safetensors/.json pair, or a run folder)")
    p.add_argument("--model", default=None, help="a shipped pretrained model name, e.g. fashion-cgan")
    p.add_argument("--device", default="cpu")


def train_command(args: argparse.Namespace) -> int:
    from .cli import UserError
    from .recipes import RECIPES, _load_all, run_recipe

    if args.list or not args.recipe:
        _load_all()
        for name, r in sorted(RECIPES.items()):
            print(f"{name:22s} {r.summary}")
        return 0 if args.list else 2
    overrides = {}
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"--steps must be at least 1, got {args.steps}")
        overrides["max_steps"] = args.steps
    if args.seed is not None:
        overrides["seed"] = args.seed
    run_recipe(args.recipe, mode=args.mode, out=args.out, resume=args.resume, device=args.device, overrides=overrides)
    return 0


def resolve_model(args: argparse.Namespace):
    """The model named by --model (shipped) or --checkpoint (a file or run folder)."""
    from .cli import UserError
    from .models.base import load_model
    from . import pretrained

    if bool(args.checkpoint) == bool(args.model):
        raise UserError("give exactly one of --checkpoint PATH or --model NAME")
    if args.model:
        return pretrained.load(args.model, device=args.device)
    path = Path(args.checkpoint)
    if path.is_dir() and (path / "best.json").exists():
        path = path / "best"
    return load_model(path, device=args.device)


def _conditions(args, model) -> tuple[list[int] | None, list[str] | None, int]:
    from .cli import UserError

    cond = getattr(model, "condition", None)
    given = [x for x in (args.labels, args.prompt, args.prompts) if x is not None]
    if len(given) > 1:
        raise UserError("give at most one of --labels, --prompt and --prompts")
    if cond is None:
        if given:
            raise UserError(f"this {model.arch} model is unconditional: drop --labels/--prompt/--prompts")
        return None, None, args.n
    if args.labels is not None:
        if cond.kind != "label":
            raise UserError("this model is conditioned on descriptions: use --prompt or --prompts")
        if args.labels == "all":
            return [i % cond.num_classes for i in range(args.n)], None, args.n
        try:
            k = int(args.labels)
        except ValueError:
            raise UserError(f"--labels must be 'all' or a class index, got {args.labels!r}") from None
        if not 0 <= k < cond.num_classes:
            raise UserError(f"--labels {k} is out of range 0..{cond.num_classes - 1}")
        return [k] * args.n, None, args.n
    if args.prompt is not None or args.prompts is not None:
        if cond.kind == "label":
            raise UserError("this model is conditioned on class labels: use --labels all or --labels K")
        if args.prompts is not None:
            try:
                lines = [l.strip() for l in Path(args.prompts).read_text(encoding="utf-8").splitlines()]
            except (OSError, UnicodeDecodeError) as err:
                raise UserError(f"cannot read prompts file {args.prompts}: {err}") from None
            lines = [l for l in lines if l]
            if not lines:
                raise UserError(f"prompts file {args.prompts} has no descriptions (one per line)")
            prompts = [p for p in lines for _ in range(args.n)]
        else:
            prompts = [args.prompt] * args.n
        return None, prompts, len(prompts)
    if cond.kind == "label":
        return [i % cond.num_classes for i in range(args.n)], None, args.n
    raise UserError("this model is conditioned on descriptions: give --prompt TEXT or --prompts FILE")


def sample_images(model, n: int, labels=None, prompts=None, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """n samples as uint8 (N, H, W, C), drawn in batches with a reproducible seed.

    What the model warns about while reading the prompts (unknown words, text cut
    at the maximum length) is printed once per message as a ``note:`` line.
    """
    from tqdm.auto import tqdm

    out = []
    gen = torch.Generator().manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for start in tqdm(range(0, n, batch_size), desc="sampling", unit="batch", disable=n <= batch_size):
            stop = min(n, start + batch_size)
            z = torch.randn(stop - start, model.config.latent_dim, generator=gen)
            kwargs = {}
            if labels is not None:
                kwargs["labels"] = labels[start:stop]
            if prompts is not None:
                kwargs["prompts"] = prompts[start:stop]
            imgs = model.sample(stop - start, z=z, **kwargs)
            out.append((imgs.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu())
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"note: {message}")
    return torch.cat(out)


def sample_command(args: argparse.Namespace) -> int:
    from .cli import UserError

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    model = resolve_model(args)
    labels, prompts, n = _conditions(args, model)
    images = sample_images(model, n, labels, prompts, seed=args.seed, batch_size=args.batch_size)
    arrays = {"images": images.numpy()}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    if prompts is not None:
        arrays["prompts"] = np.asarray(prompts, dtype=np.str_)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {len(images)} samples {tuple(images.shape[1:])} to {out}")
    return 0


def generate_command(args: argparse.Namespace) -> int:
    from .cli import UserError
    from .viz import save_grid_png

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    model = resolve_model(args)
    cond = getattr(model, "condition", None)
    if cond is None or cond.kind == "label":
        raise UserError(f"this {model.arch} model does not read descriptions; use a description-conditioned model "
                        "(e.g. a checkpoint of the cvae-fashion recipe) or `pgan sample --labels`.")
    images = sample_images(model, args.n, prompts=[args.prompt] * args.n, seed=args.seed)
    path = save_grid_png(images.numpy(), args.out, ncols=min(8, args.n))
    print(f"wrote {args.n} images for {args.prompt!r} to {path}")
    return 0
