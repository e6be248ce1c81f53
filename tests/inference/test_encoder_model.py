"""A Model v3 graph (Whisper encoder + head in one ONNX file) through EmotionClassifier: served
like any model, and refused at load, with one line, when its metadata and its encoder disagree.

Most tests use the tiny v3 model (tests/conftest.py: a tiny random encoder, exported once per
session with TensorFlow); the last one exports the real pinned tiny.en encoder.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from ser_encoders import EncoderSpec, graph_sha256
from ser_features import EMOTIONS, FeatureConfig
from ser_inference import AudioLimits, EmotionClassifier, ModelLoadError
from tests.inference.test_classifier import _long_recording
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import build_tiny_model, tiny_metadata
from tests.support.v3_model import with_encoder_section, with_tampered_encoder_weight

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow

LIMITS = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)


def test_a_v3_model_loads_and_classifies_a_recording_through_the_usual_path(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    classifier = EmotionClassifier.load(tiny_v3_model)
    assert classifier.config == FeatureConfig(front_end="whisper")
    assert classifier.metadata.encoder.name == known_tiny_encoder.name
    assert classifier.metadata.encoder.layers == ("block_1", "block_2")
    # 4 s at 44.1 kHz: resampled to 16 kHz, two 3-s windows, each Whisper's log-mel
    # (300 frames × 80 bands).
    clip = wav_bytes(harmonic_tone(4.0, rate=44_100, seed=3), rate=44_100)
    prepared = classifier.prepare(clip, LIMITS)
    assert prepared.utterance.features.shape == (2, 300, 80)
    prediction = classifier.predict(clip, LIMITS)
    assert prediction.labels == EMOTIONS and prediction.source_sample_rate == 44_100
    assert len(prediction.windows) == 2 and prediction.windows[-1].end_s == 4.0
    assert abs(prediction.probabilities.sum() - 1) < 1e-5
    for window in prediction.windows:
        assert window.probabilities.shape == (7,) and abs(window.probabilities.sum() - 1) < 1e-5
    # The encoder reads the audio: another voice gets other probabilities.
    other = classifier.predict(wav_bytes(harmonic_tone(4.0, f0_hz=300.0, seed=9)), LIMITS)
    assert np.abs(other.probabilities - prediction.probabilities).max() > 1e-4


def test_a_long_recording_s_windows_split_across_threads_answer_as_on_one(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec
) -> None:
    recording = _long_recording()
    one = EmotionClassifier.load(tiny_v3_model).predict(recording, LIMITS)
    two = EmotionClassifier.load(tiny_v3_model, long_recording_threads=2).predict(recording, LIMITS)
    assert len(one.windows) == len(two.windows) > 16
    for a, b in zip(one.windows, two.windows, strict=True):
        assert a.silent == b.silent
        if not a.silent:
            np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=0, atol=1e-6)


def test_a_v3_model_serves_from_its_sidecar_too(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    """No metadata_props in the graph: the sidecar's encoder section is checked the same way."""
    proto = onnx.load(str(tiny_v3_model))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "m.onnx"))
    shutil.copy(tiny_v3_model.with_suffix(".json"), tmp_path / "m.json")
    assert (
        EmotionClassifier.load(tmp_path / "m.onnx").metadata.encoder.name
        == "whisper-tiny-random-test"
    )
    sidecar = json.loads((tmp_path / "m.json").read_text())
    sidecar["encoder"]["graph_sha256"] = "0" * 64  # a sidecar from another export
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelLoadError, match="the encoder weights in its graph have sha256"):
        EmotionClassifier.load(tmp_path / "m.onnx")


def refusal(path: Path) -> str:
    """The one-line reason EmotionClassifier.load gives for ``path``."""
    with pytest.raises(ModelLoadError) as caught:
        EmotionClassifier.load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_a_tampered_encoder_weight_is_refused(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    tampered = with_tampered_encoder_weight(tiny_v3_model, tmp_path / "tampered.onnx")
    recorded = json.loads(tiny_v3_model.with_suffix(".json").read_text())["encoder"]["graph_sha256"]
    message = refusal(tampered)
    assert (
        f"the encoder weights in its graph have sha256 {graph_sha256(tampered.read_bytes())}"
        in message
    )
    assert f"its metadata says {recorded}" in message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: None, "has no 'encoder' section naming the encoder in its graph"),
        (lambda s: s | {"sha256": "f" * 64}, "but the pinned whisper-tiny-random-test weights"),
        (lambda s: s | {"name": "whisper-large-v3"}, "'whisper-large-v3', which this service does not know"),
        (lambda s: s | {"d_model": 384}, "describes whisper-tiny-random-test as (layers, d_model, heads) (2, 384, 4)"),
        (lambda s: s | {"layers": ["block_1", "block_9"]}, "selects layers ['block_9']"),
    ],
    ids=["no-section", "other-weights", "unknown-encoder", "other-shape", "unknown-layer"],
)  # fmt: skip
def test_metadata_that_does_not_match_the_pinned_encoder_is_refused(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path, change, reason: str
) -> None:
    assert reason in refusal(with_encoder_section(tiny_v3_model, tmp_path / "m.onnx", change))


def test_an_encoder_section_on_a_hand_crafted_model_is_refused(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    v3 = EmotionClassifier.load(tiny_v3_model).metadata
    metadata = dataclasses.replace(tiny_metadata(), encoder=v3.encoder)
    message = refusal(build_tiny_model(tmp_path / "m.onnx", metadata))
    assert "names encoder whisper-tiny-random-test but reads front_end 'handcrafted'" in message


def test_a_graph_without_the_encoder_its_metadata_names_is_refused(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    """A hand-crafted graph (no encoder nodes) labelled as a v3 model: no encoder to hash."""
    v3 = EmotionClassifier.load(tiny_v3_model).metadata
    metadata = dataclasses.replace(tiny_metadata(v3.feature_config), encoder=v3.encoder)
    message = refusal(build_tiny_model(tmp_path / "m.onnx", metadata))
    assert "names encoder whisper-tiny-random-test but its graph shows none" in message


@pytest.mark.slow
def test_the_real_encoder_exports_and_serves_with_the_same_graph_hash(tmp_path: Path) -> None:
    """tiny.en's pinned weights + a random tiny head: Keras and ONNX Runtime agree within 1e-4
    on speech log-mel windows, the hash written at export is the one load computes, and the
    classifier serves it with the product's own spec (nothing registered)."""
    pytest.importorskip("tensorflow")
    from ser_encoders import WHISPER_TINY_EN, load_whisper_encoder
    from ser_features import whisper_log_mel
    from tests.support.speech import ESPEAK, synthesise
    from tests.support.v3_model import export_v3_model

    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng): no speech")
    speech = synthesise(
        "Open the door and turn on the light. Thank you very much for your help. "
        "See you tomorrow morning.", tmp_path
    )  # fmt: skip
    windows = [speech[start : start + 48_000] for start in range(0, len(speech) - 48_000, 24_000)]
    batch = np.stack([whisper_log_mel(w).T for w in windows])  # (n, 300, 80)
    path, difference = export_v3_model(
        tmp_path / "v3.onnx", load_whisper_encoder(), WHISPER_TINY_EN, layers=(0, 2, 5), pool=2,
        head={"filters": 8, "blocks": 1, "dense_units": 8}, parity_batch=batch,
    )  # fmt: skip
    assert len(batch) >= 3 and difference <= 1e-4
    classifier = EmotionClassifier.load(path)
    at_export = classifier.metadata.encoder.graph_sha256
    assert at_export == graph_sha256(path.read_bytes())
    assert classifier.metadata.encoder.layers == ("embeddings", "block_2", "final_ln")
    np.testing.assert_allclose(classifier.run(batch.astype(np.float32)).sum(axis=1), 1, atol=1e-5)
    prediction = classifier.predict(wav_bytes(speech), LIMITS)
    assert len(prediction.windows) >= 3
