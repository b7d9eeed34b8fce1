import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("PGAN_MODE", "quick")


@pytest.fixture
def tiny_data():
    """A small synthetic ProductData (two classes of blobs), no files needed."""
    import torch

    from pgan_lib.data.base import ProductData

    gen = torch.Generator().manual_seed(0)
    n = 64
    labels = torch.arange(n) % 2
    imgs = torch.zeros(n, 1, 8, 8)
    imgs[labels == 0, :, 2:6, 1:3] = 1.0
    imgs[labels == 1, :, 2:6, 5:7] = 1.0
    imgs = (imgs * 200 + torch.rand(n, 1, 8, 8, generator=gen) * 40).to(torch.uint8)
    return ProductData(name="tiny", split="train", images=imgs,
                       descriptions=[f"item {i} of class {int(y)}" for i, y in enumerate(labels)],
                       labels=labels, class_names=["left", "right"])


@pytest.fixture
def gpu_dry_run(tmp_path):
    """Run a prepared GPU script of ``benchmarks/`` in its CPU dry run (``--dry-run``, OUT=tmp_path, extra
    environment as keywords); checks that every step passed and that no more came back than a GPU machine sends
    (8 files); returns the session log."""
    if shutil.which("bash") is None or shutil.which("timeout") is None:
        pytest.skip("needs bash and timeout")
    root = Path(__file__).resolve().parents[1]

    def run(script: str, **env: str) -> str:
        env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, OMP_NUM_THREADS="1", **env)
        done = subprocess.run(["bash", str(root / "benchmarks" / script), "--dry-run"], env=env, cwd=root,
                              capture_output=True, text=True, timeout=900)
        log = (tmp_path / "session.log").read_text()
        assert done.returncode == 0, log[-4000:]
        assert "== done: 0 step(s) failed" in log
        assert len(list(tmp_path.iterdir())) <= 8, sorted(p.name for p in tmp_path.iterdir())
        return log
    return run
