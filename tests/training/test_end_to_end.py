"""A tiny real run: train → evaluate → export ONNX → parity, on synthesised corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from typer.testing import CliRunner

from ser_features import FeatureExtractor, file_features
from ser_features.model_metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata
from tests.support.compare_runs import store_run

pytestmark = [pytest.mark.training, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained(toy_corpora: Path, tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    from ser_training.cli import app
    from ser_training.job import DEFAULT_RECIPE_NAME

    out = tmp_path_factory.mktemp("model")
    # Stored comparison runs (synthesised) give the calibration its held-out-corpus set, so
    # the job never reads the repository's own runs.
    runs = out / "runs"
    runs.mkdir()
    for seed in (1337, 1338):
        store_run(runs, f"{DEFAULT_RECIPE_NAME}__seed{seed}__toy", seed)
    result = CliRunner().invoke(app, ["train", "--data", str(toy_corpora), "--out", str(out),
                                      "--cache", str(out / "cache"), "--quick", "--no-robustness",
                                      "--workers", "1", "--calibration-runs", str(runs), "--encoder", "none",
                                      "--calibration-recipe", DEFAULT_RECIPE_NAME])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_export_writes_model_sidecar_card_and_report(trained: Path) -> None:
    for name in ("ser_model.onnx", "ser_model.json", "MODEL_CARD.md", "evaluation/report.md",
                 "evaluation/learning_curves.png", "evaluation/confusion_ravdess.png"):  # fmt: skip
        assert (trained / name).is_file(), name
    summary = json.loads((trained / "evaluation" / "summary.json").read_text())
    assert summary["export"]["keras_onnx_max_abs_diff"] <= 1e-4
    assert "Speaker-independent" in summary["protocol"]
    assert set(summary["test"]) == {"ravdess", "emodb", "tess", "all"}


def test_train_produces_a_calibrated_model(trained: Path) -> None:
    summary = json.loads((trained / "evaluation" / "summary.json").read_text())
    calibration = summary["calibration"]["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["uncertain_below"] <= 1
    assert set(summary["calibration"]["test"]) == {"ravdess", "emodb", "tess", "all"}
    assert (trained / "evaluation" / "reliability.png").is_file()
    sidecar = json.loads((trained / "ser_model.json").read_text())
    assert sidecar["calibration"] == calibration
    assert "not sure" in (trained / "MODEL_CARD.md").read_text()


def test_onnx_metadata_matches_sidecar_and_serving_can_use_it(
    trained: Path, toy_corpora: Path
) -> None:
    import onnx

    proto = onnx.load(str(trained / "ser_model.onnx"))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    assert metadata.to_json_dict() == json.loads((trained / "ser_model.json").read_text())
    assert "non-commercial" in metadata.license.lower()
    session = onnxruntime.InferenceSession(
        str(trained / "ser_model.onnx"), providers=["CPUExecutionProvider"]
    )
    wav = next((toy_corpora / "ravdess").rglob("*.wav")).read_bytes()
    _, features = file_features(wav, FeatureExtractor(metadata.feature_config))
    probabilities = session.run([OUTPUT_NAME], {INPUT_NAME: features.features})[0]
    assert probabilities.shape == (len(features.features), len(metadata.labels))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_missing_data_fails_with_a_clear_message(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from ser_training.cli import app

    result = CliRunner().invoke(
        app, ["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [("--pad-mode", "pad_mode must be one of"), ("--normalization", "normalization must be")],
)
def test_an_unknown_feature_option_is_refused_before_any_work(
    tmp_path: Path, option: str, message: str
) -> None:
    pytest.importorskip("tensorflow")
    from ser_training.cli import app

    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), option, "mirror"])
    assert result.exit_code == 2
    assert message in result.output


def test_evaluate_holds_out_each_corpus_and_merges_into_the_report(
    trained: Path, toy_corpora: Path
) -> None:
    import onnx

    from ser_training.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--data", str(toy_corpora), "--out", str(trained),
                                      "--cache", str(trained / "cache"), "--quick", "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((trained / "evaluation" / "summary.json").read_text())
    loco = summary["leave_one_corpus_out"]
    assert set(loco) == {"ravdess", "emodb", "tess"}
    for corpus, m in loco.items():
        assert corpus not in m["trained_on"]
        assert m["n"] == m["n_files"] == sum(m["prediction_distribution"].values())
        # Test speakers and the rest partition the held-out corpus (choices use the rest only).
        groups = m["by_speakers"]
        assert groups["test_speakers"]["n"] + groups["other_speakers"]["n"] == m["n"]
        assert not set(groups["test_speakers"]["speakers"]) & set(
            groups["other_speakers"]["speakers"]
        )
    assert loco["emodb"]["by_speakers"]["test_speakers"]["speakers"] == ["08", "15"]
    # EMO-DB has no 'surprised': scoring chooses only among the labels it contains.
    assert loco["emodb"]["prediction_distribution"]["surprised"] == 0
    assert "accuracy" in summary["tess_reverse"]
    assert "Held-out corpus" in (trained / "evaluation" / "report.md").read_text()
    assert "Held-out corpus" in (trained / "MODEL_CARD.md").read_text()
    assert "other speakers only" in (trained / "MODEL_CARD.md").read_text()
    proto = onnx.load(str(trained / "ser_model.onnx"))
    metrics = json.loads({p.key: p.value for p in proto.metadata_props}["ser.metrics"])
    assert set(metrics["leave_one_corpus_out"]) == {"ravdess", "emodb", "tess"}


def test_calibrate_refits_an_exported_model_without_training(
    trained: Path, toy_corpora: Path
) -> None:
    from ser_training.cli import app

    before = json.loads((trained / "ser_model.json").read_text())["calibration"]
    args = ["calibrate", "--data", str(toy_corpora), "--out", str(trained),
            "--cache", str(trained / "cache"), "--workers", "1",
            "--calibration-runs", str(trained / "runs")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "temperature" in result.output and "ECE" in result.output
    after = json.loads((trained / "ser_model.json").read_text())["calibration"]
    # The calibrated graph is undone before fitting again, so the same temperature comes back.
    assert after["temperature"] == pytest.approx(before["temperature"], rel=1e-3)
    # With held-out-corpus runs at hand, training and re-calibration both fit them in.
    assert "held-out-corpus predictions" in before["fitted_on"]
    assert after["fitted_on"] == before["fitted_on"]
    assert after["arousal_weights"] == pytest.approx(before["arousal_weights"], abs=1e-6)
    assert after["uncertain_below"] == pytest.approx(before["uncertain_below"], abs=1e-6)


def test_score_records_a_never_seen_corpus_in_the_card(
    trained: Path, toy_corpora: Path, tmp_path: Path
) -> None:
    from ser_training.cli import app
    from tests.training.conftest import make_nemo

    make_nemo(tmp_path / "data" / "nemo")
    args = ["score", "nemo", "--model", str(trained / "ser_model.onnx"), "--data",
            str(tmp_path / "data"), "--record"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((trained / "evaluation" / "summary.json").read_text())
    assert summary["exported_model_scores"]["nemo"]["n"] == 30
    card = (trained / "MODEL_CARD.md").read_text()
    assert "| nEMO | 6 | 30 / 30 |" in card
    assert "| nEMO | Polish, acted sentences | 9 (4 f, 5 m) | CC BY-NC-SA 4.0 | this model" in card
    # A corpus the model trained on is not a held-out figure: refused, nothing recorded.
    result = CliRunner().invoke(app, ["score", "emodb", "--model", str(trained / "ser_model.onnx"),
                                      "--data", str(toy_corpora), "--record"])  # fmt: skip
    assert result.exit_code == 1 and "trained on emodb: not a held-out figure" in result.output
