"""Shopper words: how the shipped text-to-image models read words that no training description contains.

    .venv/bin/python benchmarks/shopper_words.py            # --per 10 (a few minutes on a CPU)
    .venv/bin/python benchmarks/shopper_words.py --quick    # --per 2, a smoke test

For ``fashion-t2i`` and ``catalog-t2i`` (or ``--fashion`` / ``--catalog`` checkpoints) it draws
``--per`` images for every attribute combination, three times: prompts written with training
words, with held-out words (``pgan_lib.data.lexicon.HELD_OUT_WORDS``: synonyms, colour words) and
with the product word misspelt by one edit (``pgan_lib.eval.shopper``). The kit's classifiers
judge class / category / colour / pattern, the pixel rules judge shade and fit.

A second table splits the held-out prompts by the held-out word in them: how the model reads the
word (``pgan_lib.eval.shopper.how_read``) and what the images drawn for those prompts show.

Refusals: every one-edit misspelling of every product word (training lexicon), alone and after a
shade/colour word, is given to the model; the table counts the prompts it refuses to read.
Misspellings that spell a training word or a common function word are words, not typos, and are
left out.

Targets: Fashion-MNIST class accuracy and shade agreement >= 0.90 with held-out words and with
typos; catalogue accuracy with held-out words at most 5 points below training words; 0 refusals.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from pgan_lib import pretrained
from pgan_lib.data.catalog import CATEGORIES
from pgan_lib.data.lexicon import FASHION_PRODUCT_WORDS, training_words
from pgan_lib.eval.shopper import WORD_SETS, by_held_out_word, evaluate_shopper_words, how_read, one_edit_typos, refusals
from pgan_lib.models.base import load_model
from pgan_lib.text import singular
from pgan_lib.text.subword import FUNCTION_WORDS

ATTRS = {"fashion-mnist": ("label", "shade", "fit"), "catalog": ("category", "colour", "pattern")}


def typo_prompts(dataset: str) -> list[str]:
    """Every one-edit misspelling of every product word, alone and in a short description."""
    avoid = set(FUNCTION_WORDS) | training_words("fashion-mnist") | training_words("catalog")
    if dataset == "fashion-mnist":
        products = sorted({p for group in FASHION_PRODUCT_WORDS for p in group})
        before = "charcoal"
    else:
        products = list(CATEGORIES)
        before = "red"
    out = []
    for phrase in products:
        *head, last = phrase.split()
        for typo in one_edit_typos(last):
            if typo in avoid or singular(typo) in avoid or len(typo) < 2:
                continue
            text = " ".join(head + [typo])
            out += [text, f"{before} {text}"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="--per 2 (a smoke test, not the reported numbers)")
    ap.add_argument("--per", type=int, default=None, help="images per attribute combination and word set (default 10)")
    ap.add_argument("--fashion", default="fashion-t2i", help="shipped name or checkpoint of the Fashion-MNIST model")
    ap.add_argument("--catalog", default="catalog-t2i", help="shipped name or checkpoint of the catalogue model")
    ap.add_argument("--only", choices=("fashion-mnist", "catalog"), default=None)
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    per = args.per or (2 if args.quick else 10)
    start = time.time()
    results: dict = {"per": per}
    rows = []
    for dataset, name in (("fashion-mnist", args.fashion), ("catalog", args.catalog)):
        if args.only and dataset != args.only:
            continue
        model = pretrained.load(name) if name in pretrained.SHIPPED else load_model(name)
        model.eval()
        res = {w: evaluate_shopper_words(model, dataset, w, per=per, seed=0) for w in WORD_SETS}
        typos = typo_prompts(dataset)
        refused = refusals(model, typos)
        per_word = [{**row, "read_as": how_read(row["word"], model.tokenizer)}
                    for row in by_held_out_word(dataset, res["held-out"])]
        results[dataset] = {"model": name,
                            **{w: {k: v for k, v in r.items() if k not in ("prompts", "right")} for w, r in res.items()},
                            "typo_prompts": len(typos), "typo_refused": len(refused),
                            "typo_refused_examples": refused[:10], "held_out_words": per_word}
        for w in WORD_SETS:
            acc = res[w]["accuracy"]
            rows.append((name, w, res[w]["n"], *(acc[a] for a in ATTRS[dataset]), res[w]["refused"]))
        rows.append((name, "typo, exhaustive", len(typos), None, None, None, len(refused)))
        print(f"{name}: {len(refused)} of {len(typos)} one-edit product-word prompts refused"
              + (f", e.g. {refused[0][0]!r}" if refused else ""), file=sys.stderr)
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    print(f"\nShopper words (per = {per} per combination, seed 0; {time.time() - start:.0f} s; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {torch.get_num_threads()} thread(s))\n")
    print(f"{'model':14s} {'words':17s} {'prompts':>7s}   {'class/cat':>9s} {'shade/col':>9s} {'fit/pat':>9s}  refused")
    for name, w, n, a, b, c, r in rows:
        cells = " ".join(f"{x:9.3f}" if x is not None else f"{'':9s}" for x in (a, b, c))
        print(f"{name:14s} {w:17s} {n:7d}   {cells}  {r:7d}")
    for dataset in (d for d in ATTRS if d in results):
        attrs = ATTRS[dataset]
        print(f"\n{results[dataset]['model']}, held-out prompts by the held-out word in them "
              "(a prompt names every attribute with a held-out word)\n")
        print(f"{'attribute':9s} {'word':12s} {'read as':10s} {'how':13s} {'prompts':>7s}  "
              + " ".join(f"{a:>8s}" for a in attrs))
        for row in results[dataset]["held_out_words"]:
            read, how = row["read_as"]
            cells = " ".join(f"{row['accuracy'][a]:8.3f}" if row["n"] else f"{'':8s}" for a in attrs)
            print(f"{row['attribute']:9s} {row['word']:12s} {read:10s} {how:13s} {row['n']:7d}  {cells}")
    print("\ntargets: Fashion-MNIST held-out and typo class and shade >= 0.90; catalogue held-out at most 5 points "
          "below training words; 0 refused")
    if "fashion-mnist" in results:
        f = results["fashion-mnist"]
        for w in ("held-out", "typo"):
            for a in ("label", "shade"):
                v = f[w]["accuracy"][a]
                print(f"  fashion {w:8s} {a:5s} {v:.3f}  {'met' if v >= 0.90 else 'NOT met'}")
    if "catalog" in results:
        c = results["catalog"]
        for a in ATTRS["catalog"]:
            gap = c["train"]["accuracy"][a] - c["held-out"]["accuracy"][a]
            print(f"  catalog held-out {a:8s} {100 * gap:+.1f} points below training words  "
                  f"{'met' if gap <= 0.05 else 'NOT met'}")
    total = sum(results[d]["typo_refused"] for d in ("fashion-mnist", "catalog") if d in results)
    print(f"  refused one-edit product-word prompts: {total}  {'met' if total == 0 else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
