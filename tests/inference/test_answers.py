"""What EmotionClassifier answers mean: the calibration in the model's metadata, parsed once at
load, turns each distribution into "not sure", arousal and valence (recording and windows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_inference import AudioLimits, Calibration, EmotionClassifier, ModelLoadError
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import build_tiny_model, tiny_metadata

LIMITS = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)
# A threshold above 1/7: a uniform answer over the seven labels must be "not sure".
CALIBRATION = {**Calibration.default(EMOTIONS).to_dict(), "uncertain_below": 0.5,
               "temperature": 1.25, "fitted_on": "test: chosen by hand"}  # fmt: skip
SURE = 30.0  # logit gap that makes softmax one-hot within float32


def _classifier(tmp_path: Path, logits: np.ndarray, calibration: dict | None) -> EmotionClassifier:
    path = build_tiny_model(tmp_path / "m.onnx", tiny_metadata(calibration=calibration),
                            logits=logits)  # fmt: skip
    return EmotionClassifier.load(path)


def _speech_with_a_pause() -> bytes:
    rate = 16_000
    tone = harmonic_tone(2.0, rate=rate, seed=3)
    return wav_bytes(np.concatenate([tone, np.zeros(3 * rate, np.float32), tone]), rate=rate)


def test_a_uniform_answer_is_not_sure_in_the_recording_and_every_window(tmp_path: Path) -> None:
    classifier = _classifier(tmp_path, np.zeros(len(EMOTIONS)), CALIBRATION)
    prediction = classifier.predict(_speech_with_a_pause(), LIMITS)
    assert prediction.judgement.uncertain
    assert prediction.confidence == pytest.approx(1 / len(EMOTIONS), abs=1e-6)
    voiced = [w for w in prediction.windows if not w.silent]
    assert voiced and all(w.judgement.uncertain for w in voiced)
    assert any(w.silent for w in prediction.windows)
    assert all(w.judgement is None for w in prediction.windows if w.silent)


def test_a_one_hot_angry_answer_is_sure_aroused_and_negative(tmp_path: Path) -> None:
    logits = np.zeros(len(EMOTIONS))
    logits[EMOTIONS.index("angry")] = SURE
    classifier = _classifier(tmp_path, logits, CALIBRATION)
    prediction = classifier.predict(_speech_with_a_pause(), LIMITS)
    for judgement in [prediction.judgement] + [
        w.judgement for w in prediction.windows if w.judgement
    ]:
        assert judgement.emotion == "angry" and not judgement.uncertain
        assert judgement.confidence == pytest.approx(1.0, abs=1e-5)
        assert judgement.arousal == pytest.approx(1.0, abs=1e-5)
        assert judgement.valence < -0.5


def test_the_calibration_is_read_once_from_the_metadata(tmp_path: Path) -> None:
    classifier = _classifier(tmp_path, np.zeros(len(EMOTIONS)), CALIBRATION)
    assert classifier.calibrated
    assert (
        classifier.calibration.to_dict() == Calibration.from_dict(CALIBRATION, EMOTIONS).to_dict()
    )


def test_a_model_without_calibration_is_served_and_never_unsure(tmp_path: Path) -> None:
    classifier = _classifier(tmp_path, np.zeros(len(EMOTIONS)), None)
    assert not classifier.calibrated
    assert classifier.calibration.uncertain_below == 0.0
    prediction = classifier.predict(_speech_with_a_pause(), LIMITS)
    assert not prediction.judgement.uncertain  # uniform, yet no threshold to fall under
    assert 0.0 <= prediction.judgement.arousal <= 1.0


@pytest.mark.parametrize(
    "calibration",
    [
        {"uncertain_below": 2.0},
        {"arousal": {"angry": 1.0}},
        {"valence": ["not", "a", "map"]},
        {"temperature": "hot"},
        {"colour": "red"},
    ],
)
def test_a_bad_calibration_is_refused_at_load_in_one_line(
    tmp_path: Path, calibration: dict
) -> None:
    with pytest.raises(ModelLoadError, match="calibration") as caught:
        _classifier(tmp_path, np.zeros(len(EMOTIONS)), calibration)
    assert "\n" not in str(caught.value)
