"""benchmarks/repair_targets.py's per-pattern breakdown of the guided repair under contradicting descriptions."""
from __future__ import annotations

import importlib
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_pattern_breakdown_counts_per_requested_pattern_and_the_copies_of_the_visible_half(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    breakdown = importlib.import_module("repair_targets").pattern_breakdown
    requested = torch.tensor([1, 1, 2, 2, 2, 0])      # striped, striped, dotted x 3, plain
    visible = torch.tensor([0, 2, 0, 1, 0, 2])        # what the visible half shows
    drawn = [1, 2, 0, 2, 1, 0]                        # read in the repairs: right, copies visible, copies visible,
    real = [0, 1, 2, 2, 0, 1]                         # right, wrong, right; read in the real right halves
    breakdown(torch.tensor(drawn), torch.tensor(real), requested, visible)
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in out if line.split()[:1] in (["plain"], ["striped"], ["dotted"])}
    # items asked for the pattern, the share drawn as asked, and the share of real halves of that pattern read right
    assert rows["plain"] == ["1", "1.000", "0.667"]      # real plain halves (items 0, 2, 4) read 0, 2, 0
    assert rows["striped"] == ["2", "0.500", "0.000"]    # the real striped half (item 3) read as dotted
    assert rows["dotted"] == ["3", "0.333", "0.000"]     # the real dotted halves (items 1, 5) read as striped
    assert out[-1] == "misses read as the visible half's own pattern: 2 of 3"
