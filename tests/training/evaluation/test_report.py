"""The report's calibration section says how the model it describes answers arousal."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

report = pytest.importorskip("ser_training.evaluation.report")
SHIPPED_SUMMARY = Path(__file__).parents[3] / "models" / "evaluation" / "summary.json"


@pytest.mark.skipif(not SHIPPED_SUMMARY.is_file(), reason="no shipped model summary")
def test_the_arousal_sentence_follows_the_calibration_it_describes() -> None:
    summary = json.loads(SHIPPED_SUMMARY.read_text())
    derived = copy.deepcopy(summary)
    derived["calibration"]["calibration"]["arousal_weights"] = {}
    learned = copy.deepcopy(summary)
    learned["calibration"]["calibration"]["arousal_weights"] = {"angry": 1.0}
    learned_text = "\n".join(report.calibration_lines(learned))
    derived_text = "\n".join(report.calibration_lines(derived))
    assert "learned head" in learned_text and "probability of a high-arousal" not in learned_text
    assert "probability of a high-arousal emotion" in derived_text
    assert "learned head" not in derived_text
