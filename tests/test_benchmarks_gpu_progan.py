"""benchmarks/gpu_progan.sh, the prepared GPU run of the minibatch-stddev ablation, in its CPU dry run."""
from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_gpu_progan_dry_run_trains_every_arm_per_seed_and_measures_them(gpu_dry_run, tmp_path):
    log = gpu_dry_run("gpu_progan.sh", SEEDS="1 2", ARMS="progan-catalog64 progan-catalog64-uncond-no-mbstd")
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
    # each run's exit and output are in the log, not in a file of its own (a GPU machine sends back 8 files)
    assert log.count(": exit 0") >= 4 and not list(tmp_path.glob("train-*.txt"))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "measured").exists()   # no weights sent back
