"""EmotionClassifier with a speaker-adapted head (issue 24): enrolment statistics, adapted
answers from one encoder pass with the plain one beside them, the usable rule applied, and
models without the head refused with the reason."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ser_encoders import EncoderSpec
from ser_features import SilentAudioError
from ser_inference import (
    AdaptationUnavailableError,
    AudioLimits,
    EmotionClassifier,
    ModelLoadError,
    SpeakerStats,
)
from tests.support.audio import harmonic_tone, wav_bytes

pytestmark = pytest.mark.training  # the tiny v3 models are exported with TensorFlow

LIMITS = AudioLimits()


def _clips() -> list[bytes]:
    return [wav_bytes(harmonic_tone(4.0, f0_hz=f0, seed=i)) for i, f0 in enumerate((110, 190, 300))]


def test_enrolment_statistics_are_the_speaker_features_of_the_voiced_windows(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    clip = _clips()[0]
    stats = classifier.enrol(clip, LIMITS)
    prepared = classifier.prepare(clip, LIMITS)
    probabilities, features = classifier.embed(prepared.utterance.features)
    assert stats.n_windows == len(features) == 2 and stats.clips == 1
    assert stats.seconds == pytest.approx(4.0)
    np.testing.assert_allclose(stats.total, features.astype(np.float64).sum(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(
        stats.label_counts, np.bincount(probabilities.argmax(1), minlength=7)
    )
    # The plain probabilities from embed are the plain head's.
    np.testing.assert_allclose(
        probabilities, classifier.run(prepared.utterance.features), atol=1e-6
    )


def test_a_usable_profile_adapts_the_answer_and_keeps_the_plain_one_beside_it(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    stats = SpeakerStats.empty(classifier.adaptation.n_features, 7)
    for clip in _clips():
        stats = stats.merged(classifier.enrol(clip, LIMITS))
    assert classifier.unusable_reason(stats) is None  # 6 windows; the fixture asks for 2
    query = wav_bytes(harmonic_tone(3.0, f0_hz=150, seed=9))
    prepared = classifier.prepare(query, LIMITS)
    answer = classifier.predict_adapted(prepared, stats)
    plain = classifier.predict(query, LIMITS)
    assert answer.adapted and answer.adaptation_reason is None
    np.testing.assert_allclose(answer.plain.probabilities, plain.probabilities, atol=1e-6)
    _, adapted_windows = classifier.run_adapted(prepared.utterance.features, stats)
    np.testing.assert_allclose(answer.probabilities, adapted_windows.mean(axis=0), atol=1e-6)
    assert np.abs(answer.probabilities - plain.probabilities).max() > 1e-3
    # The adapted answer is judged with the adapted head's own "not sure" threshold.
    assert answer.judgement.uncertain == (answer.confidence < classifier.adaptation.uncertain_below)


def test_an_unusable_profile_gives_the_plain_answer_and_the_reason(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    short = wav_bytes(harmonic_tone(1.0, seed=4))  # one window: the rule asks for 2
    stats = classifier.enrol(short, LIMITS)
    query = _clips()[1]
    answer = classifier.predict_adapted(classifier.prepare(query, LIMITS), stats)
    assert not answer.adapted and answer.plain is None
    assert "too little speech" in answer.adaptation_reason
    np.testing.assert_allclose(
        answer.probabilities, classifier.predict(query, LIMITS).probabilities, atol=1e-6
    )


def test_adapt_self_uses_the_recording_s_own_windows(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    recording = wav_bytes(
        np.concatenate([harmonic_tone(3.0, f0_hz=f, seed=f) for f in (120, 220, 320)])
    )
    prepared = classifier.prepare(recording, LIMITS)
    own = classifier.profile_of(prepared)
    assert dataclasses.asdict(classifier.predict_adapted(prepared, None).judgement) == (
        dataclasses.asdict(classifier.predict_adapted(prepared, own).judgement)
    )


def test_silent_enrolment_audio_is_refused_like_a_silent_request(
    tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    with pytest.raises(SilentAudioError):
        classifier.enrol(wav_bytes(np.zeros(32_000, np.float32)), LIMITS)


def test_a_model_without_the_head_refuses_profiles_with_the_reason(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_model)
    assert classifier.adaptation is None and classifier.describe()["speaker_adaptation"] is False
    with pytest.raises(AdaptationUnavailableError, match="ser-train adapt"):
        classifier.enrol(_clips()[0], LIMITS)


def test_metadata_describing_a_head_the_graph_lacks_is_refused_at_load(
    tiny_v3_model: Path, tiny_v3_adapted_model: Path, known_tiny_encoder: EncoderSpec,
    tmp_path: Path,
) -> None:  # fmt: skip
    # The plain graph with the adapted model's sidecar metadata (graph without metadata_props).
    import onnx

    proto = onnx.load(str(tiny_v3_model))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "model.onnx"))
    shutil.copy(tiny_v3_adapted_model.with_suffix(".json"), tmp_path / "model.json")
    data = json.loads((tmp_path / "model.json").read_text())
    data["encoder"]["graph_sha256"] = json.loads(tiny_v3_model.with_suffix(".json").read_text())[
        "encoder"
    ]["graph_sha256"]
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="speaker-adapted head but the graph lacks"):
        EmotionClassifier.load(tmp_path / "model.onnx")
