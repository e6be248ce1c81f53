"""``ser-train trust``'s measurements on synthetic answers and enrolments (no model): the
per-corpus calibration figures, and the one-mood table the answer-entropy limit rests on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_features.model_metadata import AdaptationMetadata
from ser_inference.profile import SpeakerStats
from ser_training.adaptation.trust import (
    Enrolment,
    calibration_figures,
    calibration_table,
    one_mood_row,
    one_mood_table,
)
from ser_training.calibration.temperature import CalibrationSet

RULE = AdaptationMetadata(
    n_features=2, layers=("block_1",), statistics="test", std_floor=0.05, min_windows=16,
    max_dominant_share=0.7, temperature=1.0, uncertain_below=0.6, fitted_on="test",
)  # fmt: skip


def answers(rng: np.random.Generator, n: int, right: float, confidence: float) -> CalibrationSet:
    """``n`` one-window clips whose top probability is ``confidence``, right ``right`` of the
    time."""
    truth = rng.integers(0, 7, n)
    top = np.where(rng.random(n) < right, truth, (truth + 1) % 7)
    probabilities = np.full((n, 7), (1 - confidence) / 6)
    probabilities[np.arange(n), top] = confidence
    return CalibrationSet.of_utterances(probabilities, truth)


def test_calibration_figures_of_calibrated_and_overconfident_answers() -> None:
    rng = np.random.default_rng(0)
    calibrated = calibration_figures(answers(rng, 4000, 0.7, 0.7), 1.0, 0.6)
    assert calibrated["ece"] < 0.03 and calibrated["accuracy"] == pytest.approx(0.7, abs=0.03)
    assert calibrated["sure_share"] == 1.0
    overconfident = calibration_figures(answers(rng, 4000, 0.4, 0.9), 1.0, 0.95)
    assert overconfident["ece"] == pytest.approx(0.5, abs=0.03)
    assert overconfident["sure_share"] == 0.0 and overconfident["sure_accuracy"] is None


def test_a_corpus_is_calibrated_on_the_other_corpora_only() -> None:
    """The temperature that grades a corpus never saw its answers: one corpus of badly
    over-confident answers changes its neighbours' temperature, not its own."""
    rng = np.random.default_rng(1)
    sets = {(c, h): answers(rng, 500, 0.6, 0.6) for c in ("a", "b") for h in ("speaker",)}
    sets[("c", "speaker")] = answers(rng, 500, 0.3, 0.95)
    table = calibration_table(sets, RULE)
    own_c = table["c"]["speaker"]["other corpora"]["temperature"]
    assert own_c == pytest.approx(1.0, abs=0.15)  # a and b are calibrated at T = 1
    assert table["a"]["speaker"]["other corpora"]["temperature"] > own_c + 0.3
    assert table["c"]["speaker"]["served"]["ece"] > 0.5


def _stats(best: list[int]) -> SpeakerStats:
    return SpeakerStats.of_windows(np.zeros((len(best), 2)), np.eye(7)[best], seconds=45.0)


def test_the_one_mood_table_counts_refusals_per_group_emotion_and_speaker() -> None:
    angry, sad, neutral = (EMOTIONS.index(e) for e in ("angry", "sad", "neutral"))
    enrolled = [
        # s1: angry heard as angry 9, disgust 6 (refused by entropy only), sad all sad.
        Enrolment("g", "s1", "one emotion", "angry", _stats([angry] * 9 + [1] * 6)),
        Enrolment("g", "s1", "one emotion", "sad", _stats([sad] * 15)),
        # s2: its one-emotion enrolment sounds varied: neither rule refuses it.
        Enrolment("g", "s2", "one emotion", "angry", _stats([angry] * 5 + [2] * 5 + [3] * 5)),
        Enrolment("g", "s2", "random", "", _stats(list(range(7)) * 2 + [4])),
        Enrolment("g", "s2", "60 % neutral", "", _stats([neutral] * 10 + [angry] * 5)),
    ]
    rules = {"share": RULE, "entropy": dataclasses.replace(RULE, min_answer_entropy=1.0)}
    table = one_mood_table(enrolled, rules, EMOTIONS)["g"]
    assert table["share"]["one_emotion_refused"] == pytest.approx(1 / 3)
    assert table["entropy"]["one_emotion_refused"] == pytest.approx(2 / 3)
    assert table["entropy"]["per_emotion_refused"] == {"angry": 0.5, "sad": 1.0}
    assert table["share"]["speakers_all_refused"] == [0, 2]
    assert table["entropy"]["speakers_all_refused"] == [1, 2]
    assert table["entropy"]["random_accepted"] == 1.0
    # 10 neutral + 5 angry: 67 % one answer passes the share, entropy 0.64 nats does not.
    assert table["share"]["60 % neutral_accepted"] == 1.0
    assert table["entropy"]["60 % neutral_accepted"] == 0.0
    assert one_mood_row([], [])["one_emotion_refused"] is None


def test_the_card_s_trust_section_belongs_to_its_model(tmp_path) -> None:
    """A trust.json left beside a newly trained model is not shown in the new model's card."""
    import json

    from ser_training.adaptation.report import trust_lines

    (tmp_path / "evaluation").mkdir()
    figures = {"clips": 10, "accuracy": 0.5, "ece": 0.05, "sure_share": 0.2, "sure_accuracy": 0.9}
    trust = {"model_version": "m-refit", "protocol_model_version": "m",
             "calibration": {"nemo": {"speaker": {"other corpora": figures}}},
             "plain": {}}  # fmt: skip
    (tmp_path / "evaluation" / "trust.json").write_text(json.dumps(trust))
    for version in ("m-refit", "m"):
        lines = trust_lines(tmp_path, version)
        assert lines[0].startswith("## Trust") and any("| 0.050 |" in line for line in lines)
    assert trust_lines(tmp_path, "a-newer-model") == []
    assert trust_lines(tmp_path / "nowhere", "m") == []
