"""Test negative ELBO of a VAE checkpoint on Fashion-MNIST, with its training time.

    python benchmarks/vae_elbo.py                      # the shipped vae-fashion
    python benchmarks/vae_elbo.py --checkpoint runs/vae-fashion/best

Prints one table row per checkpoint: nats per image on the 10,000 test images
(Bernoulli likelihood on [0,1] intensities, one posterior sample per image, fixed
seed), its reconstruction and KL parts, pixel MSE, the training steps and seconds.
"""
from __future__ import annotations

import argparse
import time

import torch

from pgan_lib import pretrained
from pgan_lib.checkpoint import load_checkpoint
from pgan_lib.data import load_dataset
from pgan_lib.models.base import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", default=None, help="checkpoint(s); default: shipped vae-fashion")
    args = parser.parse_args()
    paths = args.checkpoint or [str(pretrained.verify("vae-fashion"))]
    test = load_dataset("fashion-mnist", "test", limit=False)
    print(f"{'checkpoint':38s} {'-ELBO':>8s} {'rec':>8s} {'KL':>6s} {'MSE':>7s} {'steps':>6s} {'train s':>8s} {'eval s':>7s}")
    for path in paths:
        meta = load_checkpoint(path).meta
        model = load_model(path)
        t = time.time()
        with torch.no_grad():
            m = model.evaluate(test)
        history = meta.get("history") or [{}]
        seconds = meta.get("seconds", history[-1].get("seconds", float("nan")))
        print(f"{str(path)[-38:]:38s} {m['neg_elbo']:8.2f} {m['rec']:8.2f} {m['kl']:6.2f} {m['mse']:7.4f} "
              f"{meta.get('step', 0):6d} {seconds:8.0f} {time.time() - t:7.1f}")


if __name__ == "__main__":
    main()
