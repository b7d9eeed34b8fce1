"""benchmarks/repair_select.py's Fashion shipping rule (``choose_edges``): the window, the margin and the reference."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def choose_edges(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))     # the script imports its sibling repair_targets
    return importlib.import_module("repair_select").choose_edges


def row(psnr: float, edge: float, fid: float = 2.0, accuracy: float = 0.91) -> dict[str, float]:
    return {"hole_psnr": psnr, "edge": edge, "fid": fid, "accuracy": accuracy}


def test_choose_edges_applies_the_window_from_the_named_reference_and_the_margin(choose_edges):
    rows = {"recipe": row(16.70, 0.0270), "l1": row(17.66, 0.0187, fid=5.6, accuracy=0.89),
            "wide-l1": row(17.90, 0.0191, fid=5.3, accuracy=0.89),
            "sharpest-outside": row(16.95, 0.0290),         # gap 0.95 from wide-l1
            "chosen": row(16.97, 0.0280),                   # gap 0.93
            "safer": row(17.05, 0.0275),                    # gap 0.85, less sharp
            "blunt": row(17.20, 0.02739),                   # under the edge margin
            "high-fid": row(17.10, 0.0285, fid=5.4),        # FID not below the reference's
            "inaccurate": row(17.10, 0.0286, accuracy=0.85)}  # under 95% of the originals' 0.938
    assert choose_edges(rows, 0.938, "wide-l1", 0.94, 0.0274) == "chosen"
    # Without the margin, from the same reference: the 0.95 dB gap is inside 1 dB, and it is the sharpest.
    assert choose_edges(rows, 0.938, "wide-l1") == "sharpest-outside"
    # From the width-32 control (17.66), the 1 dB floor is 16.66: all pass it, so again the sharpest that qualifies.
    assert choose_edges(rows, 0.938) == "sharpest-outside"
    # A stricter margin leaves only the safer variant; a stricter one still, none.
    assert choose_edges(rows, 0.938, "wide-l1", 0.90, 0.0274) == "safer"
    assert choose_edges(rows, 0.938, "wide-l1", 0.80, 0.0274) is None


def test_choose_edges_keeps_the_recipe_unless_the_choice_is_sharper(choose_edges):
    rows = {"recipe": row(16.70, 0.0290), "l1": row(17.66, 0.0187, fid=5.6), "v": row(17.00, 0.0280)}
    assert choose_edges(rows, 0.938) is None
    rows["recipe"]["edge"] = 0.0279
    assert choose_edges(rows, 0.938) == "v"


def test_a_recipe_outside_the_window_does_not_keep_its_place_by_being_sharper(choose_edges):
    rows = {"recipe": row(16.96, 0.0280), "wide-l1": row(17.90, 0.0191, fid=5.3),
            "safer": row(17.05, 0.0275), "blunt": row(17.20, 0.0268)}
    # The recipe's gap is 0.94: inside a 0.94 window it stays, since it is sharper than "safer".
    assert choose_edges(rows, 0.938, "wide-l1", 0.94, 0.0271) is None
    # Inside a 0.90 window it no longer qualifies, and "safer" (gap 0.85) replaces it; "blunt" is under the floor.
    assert choose_edges(rows, 0.938, "wide-l1", 0.90, 0.0271) == "safer"
    # And where nothing qualifies, nothing replaces it.
    assert choose_edges(rows, 0.938, "wide-l1", 0.80, 0.0271) is None


def test_min_edge_takes_a_number_or_the_photos_own(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    edge_floor = importlib.import_module("repair_select").edge_floor
    assert edge_floor("0.0274") == pytest.approx(0.0274)
    assert edge_floor("photos") == "photos"
    with pytest.raises(Exception, match="--min-edge 'sharp'"):
        edge_floor("sharp")
