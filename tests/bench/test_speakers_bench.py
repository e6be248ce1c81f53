"""``python -m bench.speakers`` really runs: a copy of the tiny v3 model with a random adapted
head, a small enrolment, a few plain and adapted /predict requests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.speakers import any_profile_copy, markdown, run
from ser_encoders import EncoderSpec
from ser_inference import AudioLimits
from tests.support.audio import harmonic_tone, wav_bytes

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow

CLIP = wav_bytes(harmonic_tone(6.0, seed=3))


def test_the_bench_times_an_enrolment_and_plain_against_adapted_answers(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    model, described = any_profile_copy(tiny_v3_model, tmp_path)
    assert described.endswith("+ a random adapted head, usable from 2 windows")
    report = run(model, clips=3, repeats=2, requests=3, warmup=1)
    results = report["results"]
    assert results["enrol"]["clips"] == 3 and results["enrol"]["repeats"] == 2
    assert results["enrol"]["windows"] == 3  # one voiced window per 3-s clip
    assert 0 < results["enrol"]["best_s"] <= results["enrol"]["median_s"]
    assert results["profile_usable"] and results["speaker_requests_adapted"]
    assert results["plain"]["n"] == results["speaker"]["n"] == 3
    assert results["difference_ms"]["p50_ms"] == pytest.approx(
        results["speaker"]["p50_ms"] - results["plain"]["p50_ms"], abs=2e-3
    )
    table = markdown({**report, "date": "today", "machine": "here", "load_average": "0"})
    assert "| POST /speakers, 3 clips (3 windows) | best " in table
    assert "Profile usable: the speaker requests ran the adapted head" in table


def test_the_bench_refuses_a_model_without_an_adapted_head(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    with pytest.raises(SystemExit, match="no speaker-adapted head: pass --any-profile"):
        run(tiny_v3_model, clips=1, repeats=1, requests=1, warmup=0)


def test_a_model_with_a_head_keeps_it_with_a_rule_that_accepts_any_profile(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    from ser_inference import EmotionClassifier
    from tests.support.v3_model import export_adapted_v3_model

    strict = export_adapted_v3_model(
        tiny_v3_model, tmp_path / "strict.onnx", max_dominant_share=0.2
    )
    model, described = any_profile_copy(strict, tmp_path)
    original = EmotionClassifier.load(strict)
    relaxed = EmotionClassifier.load(model)
    assert relaxed.adaptation.max_dominant_share == 1.0 and "0.2 → 1" in described
    assert relaxed.adaptation.min_windows == original.adaptation.min_windows
    # The same adapted head: only the rule changed.
    features = original.prepare(CLIP, AudioLimits()).utterance.features
    stats = original.enrol(CLIP, AudioLimits())
    np.testing.assert_array_equal(
        relaxed.run_adapted(features, stats)[1], original.run_adapted(features, stats)[1]
    )
    report = run(model, clips=2, repeats=1, requests=1, warmup=0)
    assert report["results"]["speaker_requests_adapted"]
