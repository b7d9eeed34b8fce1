"""``pgan sample`` (samples into an .npz file) and ``pgan generate`` (a PNG grid for a description)."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from .. import content_credentials
from ..eval.samples import save_samples
from ..images import to_uint8
from ..models.base import GeneratorModel, draw_samples
from ..pretrained import weights_sha256
from ..provenance import Provenance
from ..viz import save_grid_png
from .common import UserError, add_model_args, resolve_model


def register(sub) -> None:
    sample = sub.add_parser("sample", help="draw samples from a generator into an .npz file")
    add_model_args(sample)
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
    add_model_args(gen)
    gen.add_argument("--n", type=int, default=16)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output PNG (it carries provenance metadata: see `pgan inspect`)")
    gen.add_argument("--sign", action="store_true",
                     help="also add C2PA content credentials signed with a local test key (needs c2pa-python; "
                          "proves the file is unchanged, not who made it)")
    gen.set_defaults(func=generate_command)


def resolve_generator(args: argparse.Namespace) -> tuple[GeneratorModel, str]:
    """The generator named by --model or --checkpoint (and its name); anything else (a classifier, a CLIP) is refused."""
    model, where = resolve_model(args)
    if not isinstance(model, GeneratorModel):
        raise UserError(f"{where} is a {model.arch} model, which does not draw images; "
                        "use a generator (e.g. --model fashion-cgan or --model catalog-t2i)")
    return model, where


def provenance_of(where: str, seed: int, labels: list[int] | None = None,
                  prompts: list[str] | None = None) -> Provenance:
    """What a file made by ``where`` (a shipped name or a checkpoint stem) records: the model, its weights'
    sha256, the seed, and the prompt or class when all the images share one."""
    prompt = prompts[0] if prompts and len(set(prompts)) == 1 else None
    label = labels[0] if labels and len(set(labels)) == 1 else None
    return Provenance(model=where, checkpoint_sha256=weights_sha256(where), seed=seed, prompt=prompt, label=label)


def _conditions(args: argparse.Namespace, model: GeneratorModel) -> tuple[list[int] | None, list[str] | None, int]:
    """What to draw: (labels or None, prompts or None, number of images) from --labels/--prompt/--prompts."""
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
                lines = [line.strip() for line in Path(args.prompts).read_text(encoding="utf-8").splitlines()]
            except (OSError, UnicodeDecodeError) as err:
                raise UserError(f"cannot read prompts file {args.prompts}: {err}") from None
            lines = [line for line in lines if line]
            if not lines:
                raise UserError(f"prompts file {args.prompts} has no descriptions (one per line)")
            prompts = [p for p in lines for _ in range(args.n)]
        else:
            prompts = [args.prompt] * args.n
        return None, prompts, len(prompts)
    if cond.kind == "label":
        return [i % cond.num_classes for i in range(args.n)], None, args.n
    raise UserError("this model is conditioned on descriptions: give --prompt TEXT or --prompts FILE")



def sample_images(model: GeneratorModel, n: int, labels: list[int] | None = None, prompts: list[str] | None = None,
                  seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """n samples as uint8 (N, C, H, W), drawn in batches with a reproducible seed (``draw_samples``).

    What the model warns about while reading the prompts (unknown words, text cut
    at the maximum length) is printed once per message as a ``note:`` line.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = draw_samples(model, n, labels, prompts, seed=seed, batch_size=batch_size, progress=True)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"note: {message}")
    return to_uint8(images)


def sample_command(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    model, where = resolve_generator(args)
    labels, prompts, n = _conditions(args, model)
    images = sample_images(model, n, labels, prompts, seed=args.seed, batch_size=args.batch_size)
    out = save_samples(args.out, images, labels=labels, prompts=prompts,
                       provenance=provenance_of(where, args.seed, labels, prompts))
    print(f"wrote {len(images)} samples {tuple(images.shape[2:]) + (images.shape[1],)} to {out}")
    return 0


def generate_command(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    if args.sign and not content_credentials.available():
        raise UserError("--sign needs the c2pa-python package (`pip install c2pa-python`); "
                        "without it the PNG still carries its provenance metadata")
    model, where = resolve_generator(args)
    cond = getattr(model, "condition", None)
    if cond is None or cond.kind == "label":
        raise UserError(f"this {model.arch} model does not read descriptions; use a description-conditioned model "
                        "(e.g. a checkpoint of the cvae-fashion recipe) or `pgan sample --labels`.")
    images = sample_images(model, args.n, prompts=[args.prompt] * args.n, seed=args.seed)
    prov = provenance_of(where, args.seed, prompts=[args.prompt])
    path = save_grid_png(images, args.out, prov, ncols=min(8, args.n))
    print(f"wrote {args.n} images for {args.prompt!r} to {path} (with provenance metadata: `pgan inspect {path}`)")
    if args.sign:
        content_credentials.sign_png(path, prov)
        print(f"signed {path} with C2PA content credentials ({content_credentials.IDENTITY_NOTE})")
    return 0
