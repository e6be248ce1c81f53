"""Temperature scaling, calibration measures, the "not sure" rule and the calibrated graph."""

from __future__ import annotations

import numpy as np
import pytest

from ser_training.calibration.temperature import (
    CalibrationSet,
    accuracy_coverage,
    brier_score,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    shared_threshold,
    tempered,
)


def synthetic(temperature: float, n: int = 4000, seed: int = 0):
    """Labels drawn from softmax(z); the 'model' reports softmax(z · temperature), i.e. it is
    over-confident by ``temperature`` (> 1)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, 5))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(5, p=row) for row in true])
    reported = tempered(true, 1.0 / temperature)
    return reported, truth, true


def test_the_fitted_temperature_undoes_a_known_overconfidence() -> None:
    reported, truth, _ = synthetic(2.0)
    fitted = fit_temperature(reported, np.arange(len(truth)), truth)
    assert fitted == pytest.approx(2.0, rel=0.1)


def test_calibration_lowers_ece_and_a_calibrated_model_has_little() -> None:
    reported, truth, true = synthetic(2.0)
    assert expected_calibration_error(true, truth) < 0.03
    assert expected_calibration_error(reported, truth) > 0.1
    fitted = fit_temperature(reported, np.arange(len(truth)), truth)
    assert expected_calibration_error(tempered(reported, fitted), truth) < 0.03


def test_temperature_keeps_the_ranking_and_rows_summing_to_one() -> None:
    reported, _, _ = synthetic(1.5, n=50)
    soft = tempered(reported, 3.0)
    np.testing.assert_array_equal(soft.argmax(axis=1), reported.argmax(axis=1))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert soft.max(axis=1).mean() < reported.max(axis=1).mean()


def test_brier_is_zero_for_certainty_and_two_for_confident_wrong() -> None:
    eye = np.eye(3)
    assert brier_score(eye, np.arange(3)) == 0.0
    assert brier_score(eye, np.array([1, 2, 0])) == pytest.approx(2.0)


def test_threshold_rule_keeps_answers_right_often_enough() -> None:
    reported, truth, _ = synthetic(1.0)
    threshold = choose_threshold(reported, truth, target=0.8)
    kept = reported.max(axis=1) >= threshold
    assert (reported.argmax(axis=1)[kept] == truth[kept]).mean() >= 0.8
    lower = reported.max(axis=1) >= threshold - 0.05
    assert (reported.argmax(axis=1)[lower] == truth[lower]).mean() < 0.8 or threshold < 0.05
    curve = accuracy_coverage(reported, truth, [0.0, threshold])
    assert curve[0]["coverage"] == 1.0 and curve[1]["accuracy"] >= 0.8


def test_the_shared_threshold_meets_the_target_on_every_set() -> None:
    """A model right 90 % of the time on known corpora needs no threshold there; on a corpus
    it never saw it must still keep only answers right ≥ 80 % of the time."""
    known, known_truth, _ = synthetic(1.0, seed=1)
    known_truth = np.where(np.arange(len(known_truth)) % 10, known.argmax(axis=1), known_truth)
    shifted, shifted_truth, _ = synthetic(1.0, seed=2)
    sets = [CalibrationSet.of_utterances(known, known_truth),
            CalibrationSet.of_utterances(shifted, shifted_truth)]  # fmt: skip
    alone = choose_threshold(known, known_truth, target=0.8)
    shared = shared_threshold(sets, 1.0)
    assert alone == known.max(axis=1).min()  # the known corpora alone flag nothing
    assert shared == pytest.approx(choose_threshold(shifted, shifted_truth, target=0.8))
    assert shared > alone
    for one in sets:
        probabilities = one.calibrated(1.0)
        kept = probabilities.max(axis=1) >= shared
        assert (probabilities.argmax(axis=1)[kept] == one.truth[kept]).mean() >= 0.8


def test_the_calibrated_graph_computes_tempered_probabilities(tmp_path) -> None:
    import onnx
    import onnxruntime

    from ser_features.model_metadata import INPUT_NAME, OUTPUT_NAME
    from ser_training.model.export import calibrate_graph
    from tests.support.tiny_model import TINY_CONFIG, build_tiny_model

    path = build_tiny_model(tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    batch = np.random.default_rng(0).normal(size=(4, *TINY_CONFIG.input_shape)).astype(np.float32)

    def run(model) -> np.ndarray:
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    raw = run(proto)
    calibrate_graph(proto, 2.5)
    np.testing.assert_allclose(run(proto), tempered(raw, 2.5), atol=1e-5)
    calibrate_graph(proto, 0.5)  # replaces, never stacks
    np.testing.assert_allclose(run(proto), tempered(raw, 0.5), atol=1e-5)
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]


def test_a_shared_temperature_lies_between_its_sets_and_weighs_each_set_the_same() -> None:
    from ser_training.calibration.temperature import CalibrationSet, fit_shared_temperature

    over, over_truth, _ = synthetic(2.0, seed=1)
    calibrated, calibrated_truth, _ = synthetic(1.0, n=400, seed=2)
    shifted = CalibrationSet.of_utterances(over, over_truth)
    small = CalibrationSet.of_utterances(calibrated, calibrated_truth)
    shared = fit_shared_temperature([small, shifted])
    alone = fit_temperature(calibrated, np.arange(len(calibrated_truth)), calibrated_truth)
    assert alone < shared < fit_temperature(over, np.arange(len(over_truth)), over_truth)
    # Ten times the files in one set does not give it ten times the say.
    bigger = CalibrationSet.of_utterances(
        np.tile(calibrated, (10, 1)), np.tile(calibrated_truth, 10)
    )
    assert fit_shared_temperature([bigger, shifted]) == pytest.approx(shared, rel=1e-3)
    with pytest.raises(ValueError):
        fit_shared_temperature([])
