"""benchmarks/gpu_repair.sh, the prepared GPU run of the guided catalogue repair's width and length, in its CPU
dry run."""
from __future__ import annotations

import json
import re

import pytest

from pgan_lib.models.base import load_model


@pytest.mark.slow
def test_gpu_repair_dry_run_trains_every_arm_measures_it_and_returns_the_kept_one(gpu_dry_run, tmp_path):
    log = gpu_dry_run("gpu_repair.sh")
    assert "== train w8-s2: exit 0" in log and "== train w12-s2: exit 0" in log
    table = (tmp_path / "repair.txt").read_text()
    # each arm is measured where it stopped, beside the shipped model, and the rule names a choice
    for width in (8, 12):
        assert f"repair-catalog-width{width}: measured at step 2 of 2" in table
        assert re.search(rf"^\s+width{width}\s+\d+\.\d\d\s+[01]\.\d{{3}}\s+[01]\.\d{{3}}", table, re.M)
    assert len(re.findall(r"^\s+recipe\s+\d+\.\d\d\s+[01]\.\d{3}", table, re.M)) == 2   # the shipped model
    assert table.count("chosen by the rule:") == 2
    # the kept arm comes back as a checkpoint the kit loads; nothing else of the runs does
    meta = json.loads((tmp_path / "catalog-repair-w8-s2.json").read_text())
    assert meta["step"] == 2 and meta["config"]["width"] == 8 and meta["weights_dtype"] == "float16"
    assert load_model(tmp_path / "catalog-repair-w8-s2").config.width == 8
    assert not (tmp_path / "catalog-repair-w12-s2.json").exists()
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("train-*.txt"))
