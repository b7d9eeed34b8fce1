"""benchmarks/gpu_progan.sh, the prepared GPU run of the minibatch-stddev ablation, in its CPU dry run."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_gpu_progan_dry_run_trains_every_arm_per_seed_and_measures_them(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, OMP_NUM_THREADS="1", SEEDS="1 2",
               ARMS="progan-catalog64 progan-catalog64-uncond-no-mbstd")
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_progan.sh"), "--dry-run"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    log = (tmp_path / "session.log").read_text()
    assert done.returncode == 0, log[-4000:]
    assert "== done: 0 step(s) failed" in log
    measured = json.loads((tmp_path / "progan_seeds.json").read_text())["measured"]
    assert sorted(measured) == ["progan-catalog64-s1", "progan-catalog64-s2",
                                "progan-catalog64-uncond-no-mbstd-s1", "progan-catalog64-uncond-no-mbstd-s2"]
    assert all(r["steps"] == 2 and 0.0 <= r["recall"] <= 1.0 and 0.0 <= r["cat_min"] <= 1.0 for r in measured.values())
    # category accuracy only where a category was asked for
    assert {name: "cat_acc" in r for name, r in measured.items()} == {
        name: "uncond" not in name for name in measured}
    # the seed reaches the model: the two seeds of one arm start from different weights
    assert measured["progan-catalog64-s1"]["fid"] != measured["progan-catalog64-s2"]["fid"]
    assert "recall" in (tmp_path / "progan_seeds.txt").read_text()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "measured").exists()   # no weights sent back
