"""Arousal, valence and "not sure" from class probabilities, and their metadata contract."""

from __future__ import annotations

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_inference.affect import HIGH_AROUSAL, Calibration, arousal_valence, uncertain

CALIBRATION = Calibration.default(EMOTIONS)


def one_hot(label: str) -> np.ndarray:
    return np.eye(len(EMOTIONS))[EMOTIONS.index(label)]


def test_a_uniform_answer_is_uncertain_and_a_sure_one_is_not() -> None:
    calibration = Calibration.from_dict({"uncertain_below": 0.5}, EMOTIONS)
    assert uncertain(np.full(len(EMOTIONS), 1 / len(EMOTIONS)), calibration)
    assert not uncertain(one_hot("sad"), calibration)
    batch = np.stack([np.full(len(EMOTIONS), 1 / len(EMOTIONS)), one_hot("sad")])
    assert uncertain(batch, calibration).tolist() == [True, False]


def test_angry_is_high_arousal_and_negative_valence() -> None:
    arousal, valence = arousal_valence(one_hot("angry"), EMOTIONS, CALIBRATION)
    assert arousal == pytest.approx(1.0) and valence < -0.5


@pytest.mark.parametrize("label", EMOTIONS)
def test_dimensions_stay_in_range_and_follow_the_mapping(label: str) -> None:
    arousal, valence = arousal_valence(one_hot(label), EMOTIONS, CALIBRATION)
    assert arousal == pytest.approx(float(label in HIGH_AROUSAL))
    assert -1.0 <= valence <= 1.0
    assert (valence > 0) == (label in {"happy", "surprised"})


def test_mixtures_are_expectations() -> None:
    p = 0.5 * one_hot("happy") + 0.5 * one_hot("sad")
    arousal, valence = arousal_valence(p, EMOTIONS, CALIBRATION)
    assert arousal == pytest.approx(0.5)
    assert valence == pytest.approx(0.5 * 0.8 - 0.5 * 0.7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"temperature": 0}, "positive"),
        ({"uncertain_below": 1.5}, r"\[0, 1\]"),
        ({"arousal": {"angry": 1.0}}, "every label"),
        ({"valence": dict.fromkeys(EMOTIONS, 2.0)}, r"\[-1.0, 1.0\]"),
        ({"colour": "red"}, "unknown keys"),
        ({"arousal_weights": {"angry": 1.0}}, "every label"),
        ({"arousal_weights": dict.fromkeys(EMOTIONS, float("nan"))}, "finite"),
    ],
)
def test_bad_calibration_metadata_is_refused(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(data, EMOTIONS)


def test_calibration_round_trips_through_its_dict() -> None:
    calibration = Calibration.from_dict({"temperature": 1.3, "uncertain_below": 0.6}, EMOTIONS)
    assert Calibration.from_dict(calibration.to_dict(), EMOTIONS) == calibration


def learned_head(weight: float = 3.0) -> Calibration:
    """A head that reads only ln p(angry) (up) and ln p(sad) (down)."""
    weights = dict.fromkeys(EMOTIONS, 0.0) | {"angry": weight, "sad": -weight}
    return Calibration.from_dict({"arousal_weights": weights, "arousal_bias": 0.0}, EMOTIONS)


def test_a_learned_arousal_head_replaces_the_mapping_and_leaves_valence_alone() -> None:
    head = learned_head()
    sure_angry = 0.93 * one_hot("angry") + 0.01
    arousal, valence = arousal_valence(sure_angry, EMOTIONS, head)
    assert arousal == pytest.approx(1 / (1 + (0.01 / 0.94) ** 3))  # sigmoid(3 ln .94 − 3 ln .01)
    assert valence == pytest.approx(arousal_valence(sure_angry, EMOTIONS, CALIBRATION)[1])
    # A zero probability is floored, not -inf: every answer stays a number in [0, 1].
    batch = np.stack([one_hot("angry"), one_hot("sad"), np.full(len(EMOTIONS), 1 / 7)])
    arousal, _ = arousal_valence(batch, EMOTIONS, head)
    assert np.all(np.isfinite(arousal))
    assert arousal[0] > 0.99 and arousal[1] < 0.01 and arousal[2] == pytest.approx(0.5)


def test_a_learned_head_round_trips_through_its_dict() -> None:
    head = learned_head(1.5)
    assert Calibration.from_dict(head.to_dict(), EMOTIONS) == head
