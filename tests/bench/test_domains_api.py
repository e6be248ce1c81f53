"""``python -m bench.domains_api`` really runs: a toy RAVDESS test set's domain profile built
through ``POST /domains`` (and its ``/clips``, past one request's chunk) and every clip
answered through ``/predict?domain=ID``, with the protocol's seed-0 draw."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.adaptation_api import speakers_of
from bench.domains_api import domain_draw, run
from ser_encoders import EncoderSpec
from tests.training.conftest import make_ravdess

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow


def test_the_api_check_profiles_the_scored_clips_and_answers_each_with_the_domain(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    # Actors 01 and 02 are RAVDESS test speakers; 03 trains the model and is left out.
    make_ravdess(tmp_path / "data" / "ravdess", actors=(1, 2, 3), per_emotion=2)
    speakers = speakers_of(tmp_path / "data", ["ravdess"])
    clips = sorted((u for s in speakers["ravdess"].values() for u in s), key=lambda u: str(u.path))
    draw, chosen = domain_draw(clips, "ravdess")
    assert draw == "neutral_60_100" and len(set(chosen.tolist())) == len(chosen)
    table = run(tmp_path / "data", tiny_v3_adapted_model, ["ravdess"], chunk=5)
    row = table["ravdess"]
    assert (row["speakers"], row["clips"], row["profile_clips"]) == (2, 32, len(chosen))
    assert row["usable"] is True and row["adapted_answers"] == 32  # the tiny rule: 3 windows
    assert 0 <= row["plain"] <= 100 and 0 <= row["domain_as_served"] <= 100
    assert row["gain"] == pytest.approx(row["domain_as_served"] - row["plain"], abs=0.02)
