"""Train one image-repair recipe on one CPU thread (as the shipped repair models were made):

    python benchmarks/repair_train.py repair-fashion full      # = pgan train repair-fashion --mode full, one thread
"""
import sys

import torch

from pgan_lib.recipes import run_recipe

if __name__ == "__main__":
    torch.set_num_threads(1)
    run_recipe(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "quick", device="cpu")
