"""benchmarks/gpu_session.sh, the prepared GPU session, in its CPU dry run: every step runs and writes its table."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_session_dry_run_writes_every_table(gpu_dry_run, tmp_path):
    gpu_dry_run("gpu_session.sh")
    speed = json.loads((tmp_path / "train_speed.json").read_text())
    names = [r["name"] for r in speed["runs"]]
    assert names[:2] == ["plain loop", "kit trainer"] and all(r["fid"] > 0 for r in speed["runs"])
    assert speed["machine"].startswith(os.uname().machine) and "load" in speed["machine"]
    large = json.loads((tmp_path / "train_speed_large.json").read_text())
    assert large["batch_size"] == 128 and large["runs"][0]["curve"]
    assert "steps 4" in (tmp_path / "recipe.txt").read_text()
    if (ROOT / "benchmarks" / "notebook_memory.py").exists():       # the notebooks run once, measured
        rows = json.loads((tmp_path / "notebook_memory.json").read_text())
        assert "FAILED" not in (tmp_path / "notebook_memory.txt").read_text() and rows
    else:
        assert "passed" in (tmp_path / "notebooks.txt").read_text()
    assert not (tmp_path / "_run").exists()                        # the run's weights are not sent back
