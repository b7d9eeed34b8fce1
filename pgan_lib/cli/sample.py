"""``pgan sample`` (samples into an .npz file) and ``pgan generate`` (a PNG grid for a description)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from typing import Any

import torch

from .. import content_credentials
from ..classroom import out_of_memory
from ..eval.attributes import requested_attributes, vocabulary
from ..eval.features import PRIMARY_HEAD
from ..eval.samples import save_samples
from ..images import to_uint8
from ..models.base import GeneratorModel, draw_samples
from ..pretrained import weights_sha256
from ..provenance import Provenance
from ..safety import MAX_PROMPT_CHARS, MAX_SAMPLE_BYTES, PromptsFileError, format_bytes, read_prompts
from ..viz import save_grid_png
from .common import UserError, add_model_args, batch_size_arg, int_arg, output_path, resolve_model, seed_arg, shown


def register(sub) -> None:
    sample = sub.add_parser("sample", help="draw samples from a generator into an .npz file")
    add_model_args(sample)
    sample.add_argument("--n", type=int_arg(1, 10**9), default=64,
                        help="number of samples (per prompt with --prompts); at most what fits "
                             f"{format_bytes(MAX_SAMPLE_BYTES)} of images")
    sample.add_argument("--labels", default=None, help="'all' (cycle through the classes) or a class index")
    sample.add_argument("--prompt", default=None, help="one description for every sample")
    sample.add_argument("--prompts", default=None, help="a text file with one description per line "
                                                        "(a bad line is reported by number and skipped)")
    sample.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                        help="a bad line in --prompts: skip it and exit 1 at the end (default), or stop at once")
    sample.add_argument("--seed", type=seed_arg, default=0)
    sample.add_argument("--batch-size", type=batch_size_arg, default=500)
    sample.add_argument("--out", required=True, help="output .npz (images uint8 (N,H,W,C), labels, prompts)")
    sample.set_defaults(func=sample_command)

    gen = sub.add_parser("generate", help="product images for a description, as a PNG grid")
    gen.add_argument("prompt", help='e.g. "a dark slim ankle boot"; for a model conditioned on class labels '
                                    '(e.g. catalog64-progan) the class is read from the description\'s words')
    add_model_args(gen)
    gen.add_argument("--labels", default=None, help="for a label-conditioned model: the class index to draw "
                                                    "(instead of reading it from the description)")
    gen.add_argument("--n", type=int_arg(1, 1024), default=16)
    gen.add_argument("--seed", type=seed_arg, default=0)
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
            return model.labels_in_turn(args.n), None, args.n
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
            lines = _prompt_lines(args, model)
            check_budget(model, len(lines) * args.n, f"{len(lines)} prompts x --n {args.n}")
            prompts = [p for p in lines for _ in range(args.n)]
        else:
            check_prompt(args.prompt)
            prompts = [args.prompt] * args.n
        return None, prompts, len(prompts)
    if cond.kind == "label":
        return model.labels_in_turn(args.n), None, args.n
    raise UserError("this model is conditioned on descriptions: give --prompt TEXT or --prompts FILE")



def label_for(model: GeneratorModel, prompt: str, labels: str | None) -> int:
    """The class a label-conditioned model draws for a description: ``--labels K`` when given, else the one
    class word of the dataset's vocabulary that the description names (the catalogue's categories for colour
    models, Fashion-MNIST's classes for grey ones). Other words (a colour, a pattern) are reported as not
    controlled by such a model."""
    cond: Any = getattr(model, "condition", None)
    num = int(cond.num_classes)
    if labels is not None:
        try:
            k = int(labels)
        except ValueError:
            raise UserError(f"--labels must be a class index, got {shown(labels, 40)}") from None
        if not 0 <= k < num:
            raise UserError(f"--labels {k} is out of range 0..{num - 1}")
        return k
    dataset = "catalog" if getattr(model.config, "channels", 1) == 3 else "fashion-mnist"
    vocab = vocabulary(dataset)
    head = PRIMARY_HEAD[dataset]
    asked = requested_attributes([prompt], dataset)
    k = int(asked[head][0])
    if k < 0 or k >= num or len(vocab[head]) != num:
        raise UserError(f"{shown(repr(prompt), 100)} names no single {head} this model knows ({', '.join(vocab[head])}); "
                        "name one, or pass --labels K")
    others = [vocab[a][int(v[0])] for a, v in asked.items() if a != head and int(v[0]) >= 0]
    if others:
        print(f"note: this model is conditioned on the {head} only ({vocab[head][k]}); "
              f"{', '.join(others)} in the description are not controlled")
    return k


def check_prompt(prompt: str) -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(f"the description is {len(prompt)} characters long ({shown(prompt, 60)}); "
                        f"the limit is {MAX_PROMPT_CHARS}: shorten it")


def _prompt_lines(args: argparse.Namespace, model: GeneratorModel) -> list[str]:
    """The usable prompts of --prompts FILE. A refused line (not UTF-8, too long, control characters,
    or one the model cannot read) is reported by its number on stderr and skipped; with
    ``--on-error fail`` the first one stops the command. ``args.refused`` counts them."""
    try:
        got = read_prompts(args.prompts)
    except PromptsFileError as err:
        raise UserError(str(err)) from None
    refused = list(got.problems)
    usable = []
    for line_no, text in got.prompts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # unknown words are noted once while drawing
                model.cond_inputs(prompts=[text], n=1)
        except ValueError as err:
            refused.append((line_no, str(err)))
            continue
        usable.append(text)
    refused.sort()
    name = shown(args.prompts, 120)
    if refused and args.on_error == "fail":
        no, why = refused[0]
        raise UserError(f"line {no} of {name}: {shown(why, 300)} ({len(refused)} bad line(s); "
                        "fix them, or drop --on-error fail to skip them)")
    for no, why in refused:
        print(f"pgan sample: line {no} of {name}: {shown(why, 300)}; skipped", file=sys.stderr)
    args.refused = len(refused)
    if not usable:
        raise UserError(f"prompts file {name} has no usable descriptions (one per line)")
    return usable


def check_budget(model: GeneratorModel, n: int, what: str) -> None:
    """Refuse a run whose images would not fit MAX_SAMPLE_BYTES of memory, naming the numbers and the largest --n."""
    c = model.config
    per_image = getattr(c, "channels", 3) * getattr(c, "size", 64) ** 2 * 5     # float32 while drawing + uint8
    if n * per_image > MAX_SAMPLE_BYTES:
        raise UserError(
            f"{what} = {n:,} images of {getattr(c, 'channels', 3)}x{getattr(c, 'size', 64)}x{getattr(c, 'size', 64)} "
            f"would take {format_bytes(n * per_image)} of memory, over the limit of {format_bytes(MAX_SAMPLE_BYTES)}; "
            f"draw at most {MAX_SAMPLE_BYTES // per_image:,} images per run (several runs with different --seed "
            "give more)")


def sample_images(model: GeneratorModel, n: int, labels: list[int] | None = None, prompts: list[str] | None = None,
                  seed: int = 0, batch_size: int = 500, option: str = "--batch-size") -> torch.Tensor:
    """n samples as uint8 (N, C, H, W), drawn in batches with a reproducible seed (``draw_samples``).

    What the model warns about while reading the prompts (unknown words, text cut
    at the maximum length) is printed once per message as a ``note:`` line. A GPU that
    runs out of memory is one line naming the batch size and the ``option`` that makes it smaller.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            images = draw_samples(model, n, labels, prompts, seed=seed, batch_size=batch_size, progress=True)
        except torch.cuda.OutOfMemoryError:
            device = next(iter(model.parameters()), torch.empty(0)).device
            raise out_of_memory(min(batch_size, n), "drawing samples", option, device) from None
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"note: {shown(message, 300)}")
    return to_uint8(images)


def sample_command(args: argparse.Namespace) -> int:
    """Exit 0, or 1 when some --prompts lines were refused (the others were drawn)."""
    output_path(args.out, "samples file")
    model, where = resolve_generator(args)
    args.refused = 0
    check_budget(model, args.n, f"--n {args.n}")
    labels, prompts, n = _conditions(args, model)
    images = sample_images(model, n, labels, prompts, seed=args.seed, batch_size=args.batch_size)
    out = save_samples(args.out, images, labels=labels, prompts=prompts,
                       provenance=provenance_of(where, args.seed, labels, prompts))
    print(f"wrote {len(images)} samples {tuple(images.shape[2:]) + (images.shape[1],)} to {shown(out, 300)}")
    if args.refused:
        print(f"pgan sample: {args.refused} line(s) of {shown(args.prompts)} were refused (see above); "
              "the other prompts were drawn", file=sys.stderr)
        return 1
    return 0


def generate_command(args: argparse.Namespace) -> int:
    check_prompt(args.prompt)
    output_path(args.out, "PNG file")
    if args.sign and not content_credentials.available():
        raise UserError("--sign needs the c2pa-python package (`pip install c2pa-python`); "
                        "without it the PNG still carries its provenance metadata")
    model, where = resolve_generator(args)
    cond = getattr(model, "condition", None)
    if cond is None:
        raise UserError(f"this {model.arch} model is unconditional and does not read descriptions; use a "
                        "conditional model (e.g. --model catalog64-progan) or `pgan sample`.")
    if cond.kind == "label":
        label = label_for(model, args.prompt, args.labels)
        images = sample_images(model, args.n, labels=[label] * args.n, seed=args.seed, option="--n")
        prov = dataclasses.replace(provenance_of(where, args.seed, labels=[label]), prompt=args.prompt)
    else:
        if args.labels is not None:
            raise UserError("this model reads descriptions, not class labels: drop --labels")
        images = sample_images(model, args.n, prompts=[args.prompt] * args.n, seed=args.seed, option="--n")
        prov = provenance_of(where, args.seed, prompts=[args.prompt])
    path = save_grid_png(images, args.out, prov, ncols=min(8, args.n))
    print(f"wrote {args.n} images for {shown(repr(args.prompt), 100)} to {shown(path, 300)} "
          f"(with provenance metadata: `pgan inspect {shown(path, 300)}`)")
    if args.sign:
        content_credentials.sign_png(path, prov)
        print(f"signed {shown(path, 300)} with C2PA content credentials ({content_credentials.IDENTITY_NOTE})")
    return 0
