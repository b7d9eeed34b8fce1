"""``pgan data show SOURCE`` and ``pgan data download``."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ..data import load_dataset
from ..data.fashion_mnist import download
from ..data.folder import FolderDataError, FolderDataWarning, load_folder_with_report
from ..safety import MAX_IMAGE_SIZE
from ..viz import show_grid
from .common import UserError, int_arg, output_path, shown


def register(sub) -> None:
    data = sub.add_parser("data", help="look at the product data sources")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    show = dsub.add_parser("show", help="split sizes, classes, example descriptions and a picture grid")
    show.add_argument("source", help="fashion-mnist, catalog or folder:PATH")
    show.add_argument("--split", default="train", help="which split to draw the examples from (default: train)")
    show.add_argument("--n", type=int_arg(1, 1024), default=64, help="how many examples in the grid (default: 64)")
    show.add_argument("--out", default=None, help="write the grid with descriptions to this PNG")
    show.add_argument("--size", type=int_arg(1, MAX_IMAGE_SIZE), default=None,
                      help=f"image size for catalog (32/64) and folders (at most {MAX_IMAGE_SIZE})")
    show.add_argument("--channels", type=int, choices=(1, 3), default=None, help="1 or 3, for folders")
    show.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                      help="for folders: skip bad files with a report (default) or fail")
    show.set_defaults(func=show_command)
    dl = dsub.add_parser("download", help="fetch Fashion-MNIST with torchvision into the kit's cache (needs network)")
    dl.set_defaults(func=download_command)


def _splits_for(source: str) -> tuple[str, ...]:
    if source == "catalog":
        return ("train", "val", "test", "heldout")
    return ("train", "val", "test")


def show_command(args: argparse.Namespace) -> int:
    if args.out:
        output_path(args.out, "PNG file")
    if args.source.startswith("folder:"):
        path = Path(args.source[len("folder:"):]).expanduser()
        try:
            data, report = load_folder_with_report(path, "all", size=args.size or 32, channels=args.channels or 3,
                                                   on_error=args.on_error)
        except FolderDataError as err:
            raise UserError(str(err)) from None
        print(report.summary())
        with warnings.catch_warnings():  # the report above already said it all
            warnings.simplefilter("ignore", FolderDataWarning)
            sizes = {s: len(load_dataset(args.source, s, limit=False, size=args.size, channels=args.channels))
                     for s in ("train", "val", "test")} if len(data) >= 10 else {"all": len(data)}
            examples = data if args.split == "train" else load_dataset(args.source, args.split, limit=False,
                                                                        size=args.size, channels=args.channels)
    else:
        sizes = {s: len(load_dataset(args.source, s, limit=False, size=args.size, channels=args.channels))
                 for s in _splits_for(args.source)}
        examples = load_dataset(args.source, args.split, limit=False, size=args.size, channels=args.channels)
    print(examples.summary())
    print("split sizes: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    picked = examples.take(args.n, seed=0)
    print("example descriptions:")
    for text in picked.descriptions[:8]:
        print(f"  - {shown(text, 200)}")
    if args.out:
        import matplotlib  # set a file backend before pyplot is first imported

        matplotlib.use("Agg")  # a file, not a window: before pyplot is first used
        show_grid(picked.images, picked.descriptions, ncols=8, title=f"{examples.name} [{examples.split}]", out=args.out)
        print(f"wrote {shown(args.out, 300)}")
    return 0


def download_command(args: argparse.Namespace) -> int:
    folder = download()
    print(f"Fashion-MNIST verified in {folder}")
    return 0
