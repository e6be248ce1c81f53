"""``python -m bench.adaptation_api`` really runs: toy RAVDESS test actors enrolled through
``POST /speakers`` and every clip answered through ``/predict?speaker=ID``, as the protocol's
seed-0 draws."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.adaptation_api import run, speakers_of
from ser_encoders import EncoderSpec
from tests.training.conftest import make_ravdess

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow


def test_the_api_check_enrols_each_test_speaker_and_answers_all_their_clips(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    # Actors 01 and 02 are RAVDESS test speakers; 03 trains the model and is left out.
    make_ravdess(tmp_path / "data" / "ravdess", actors=(1, 2, 3), per_emotion=2)
    speakers = speakers_of(tmp_path / "data", ["ravdess"])
    assert sorted(speakers["ravdess"]) == ["ravdess:01", "ravdess:02"]
    table = run(tmp_path / "data", tiny_v3_adapted_model, ["ravdess"])
    row = table["ravdess"]
    assert (row["speakers"], row["clips"]) == (2, 2 * 16)  # 8 codes × 2 repetitions each
    assert row["enrolment"] == "neutral_60_30" and row["usable_profiles"] == 2
    assert 0 <= row["plain"] <= 100 and 0 <= row["adapted_as_served"] <= 100
    assert row["gain"] == pytest.approx(row["adapted_as_served"] - row["plain"], abs=0.02)
