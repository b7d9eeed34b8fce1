"""Train one image-repair recipe on one CPU thread: python benchmarks/repair_train.py NAME [quick|full]."""
import sys

import torch

torch.set_num_threads(1)

from pgan_lib.recipes_repair import train_repair  # noqa: E402

if __name__ == "__main__":
    train_repair(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "quick")
