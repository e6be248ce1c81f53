"""Model v3 end to end on toy corpora: a tiny random Whisper encoder of the real architecture
(written in the CTranslate2 layout at test time), its outputs cached, a head trained on them,
and encoder + head exported as one ONNX graph that the served classifier runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.support.tiny_encoder import TINY_SHAPE, write_tiny_whisper

pytestmark = [pytest.mark.training, pytest.mark.slow]

TINY_NAME = "whisper-tiny-test"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    """model.bin of a tiny random encoder, registered under TINY_NAME for the module."""
    from ser_encoders.weights import ENCODERS, WHISPER_TINY_EN, EncoderSpec, sha256_file

    path = write_tiny_whisper(tmp_path_factory.mktemp("encoder"), **TINY_SHAPE)
    spec = EncoderSpec(
        **{**WHISPER_TINY_EN.as_dict(), **TINY_SHAPE, "name": TINY_NAME,
           "sha256": sha256_file(path)}
    )  # fmt: skip
    ENCODERS[TINY_NAME] = spec
    yield path
    del ENCODERS[TINY_NAME]


@pytest.fixture(scope="module")
def trained_v3(toy_corpora: Path, tiny_encoder: Path, tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    import dataclasses

    from ser_training.cli import build_config
    from ser_training.job import run_training_job

    out = tmp_path_factory.mktemp("v3")
    config = build_config(toy_corpora, out, out / "cache", quick=True, workers=1,
                          encoder=TINY_NAME, encoder_layers="1,2,3", robustness=False)  # fmt: skip
    config = dataclasses.replace(config, encoder_weights=tiny_encoder, calibration_runs=None)
    run_training_job(config, verbose=0)
    return out


def test_the_encoder_cache_holds_every_layer_pooled_as_float16(
    trained_v3: Path, toy_corpora: Path, tiny_encoder: Path
) -> None:
    from ser_encoders.weights import load_whisper_encoder
    from ser_encoders.whisper import encode
    from ser_training.cli import build_config
    from ser_training.job import feature_cache

    config = build_config(toy_corpora, trained_v3, trained_v3 / "cache", encoder=TINY_NAME,
                          encoder_layers="1,2,3")  # fmt: skip
    import dataclasses

    cache = feature_cache(dataclasses.replace(config, encoder_weights=tiny_encoder))
    path = next(toy_corpora.rglob("03-01-05-*-01.wav"))
    stored = np.load(cache.entry(path, 0))
    windows = cache.features.load(path, 0)  # (n, 300, 80) log-mel
    d = TINY_SHAPE["d_model"]
    assert stored.dtype == np.float16 and stored.shape == (len(windows), 4, 75, d)
    # Independently: every layer by the numpy reference, then 2-step means.
    outputs = encode(load_whisper_encoder(cache.spec, tiny_encoder), windows.transpose(0, 2, 1))
    expected = (outputs[:, :, 0::2] + outputs[:, :, 1::2]) / 2  # (layers, n, 75, d)
    np.testing.assert_allclose(stored, expected.transpose(1, 0, 2, 3), rtol=2e-3, atol=2e-3)
    assert cache.load(path, 0).shape == (len(windows), 3, 75, d)  # the selected layers


def test_one_graph_serves_encoder_and_head(trained_v3: Path) -> None:
    from ser_features import FeatureConfig
    from ser_inference.classifier import AudioLimits, EmotionClassifier
    from tests.support.audio import harmonic_tone, write_audio

    summary = json.loads((trained_v3 / "evaluation" / "summary.json").read_text())
    assert summary["model_version"].startswith("ser-whisper-tiny-test-")
    assert summary["export"]["keras_onnx_max_abs_diff"] < 1e-4
    assert summary["recipe"]["encoder_layers"] == [1, 2, 3]
    classifier = EmotionClassifier.load(trained_v3 / "ser_model.onnx")
    assert classifier.config == FeatureConfig.from_dict(summary["feature_config"])
    assert classifier.config.front_end == "whisper"
    wav = write_audio(trained_v3 / "clip.wav", harmonic_tone(4.0, seed=5))
    prediction = classifier.predict(wav, AudioLimits())
    assert prediction.probabilities.shape == (7,)
    assert abs(prediction.probabilities.sum() - 1) < 1e-5
    assert len(prediction.windows) == 2  # 4 s: two 3-s windows 1.5 s apart
    card = (trained_v3 / "MODEL_CARD.md").read_text()
    assert (
        "frozen pretrained speech encoder" in card and "block_1, block_2, final_ln" in card
    )  # 2-block tiny encoder
    assert "MIT" in card and "non-commercial" in card


def test_an_encoder_recipe_is_refused_without_its_front_end(tmp_path: Path) -> None:
    from ser_training.cli import app

    result = CliRunner().invoke(
        app, ["train", "--data", str(tmp_path), "--encoder", "whisper-base"]
    )
    assert result.exit_code == 2 and "encoder must be one of" in result.output


def test_ser_train_refit_learns_from_every_speaker_and_keeps_the_protocol_figures(
    trained_v3: Path, toy_corpora: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    """`ser-train refit` (docs/training.md): the protocol run's recipe, seed
    and best epoch count on every speaker, test and validation speakers included; its figures
    and calibration stay the protocol's, the speaker/domain head is carried over unchanged,
    and calibrating the refit (on its own training speakers) is refused."""
    import shutil

    from ser_inference import AudioLimits, EmotionClassifier, SpeakerStats
    from ser_training.cli import app

    out = tmp_path / "models"
    shutil.copytree(trained_v3, out, ignore=shutil.ignore_patterns("cache"))
    adapt = ["adapt", "--data", str(toy_corpora), "--out", str(out), "--work",
             str(tmp_path / "work"), "--seeds", "1", "--threads", "1"]  # fmt: skip
    assert CliRunner().invoke(app, adapt).exit_code == 0
    before = EmotionClassifier.load(out / "ser_model.onnx")
    protocol = json.loads((out / "evaluation" / "summary.json").read_text())

    refit = ["refit", "--data", str(toy_corpora), "--out", str(out), "--cache",
             str(trained_v3 / "cache"), "--encoder-weights", str(tiny_encoder), "--workers", "1"]  # fmt: skip
    result = CliRunner().invoke(app, refit)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "evaluation" / "summary.json").read_text())
    after = EmotionClassifier.load(out / "ser_model.onnx")

    record = summary["refit"]
    assert record["epochs"] == protocol["best_epoch"] and record["seed"] == protocol["seed"]
    protocol_speakers = {
        c: sorted({*protocol["split"]["train"].get(c, []), *protocol["split"]["validation"].get(c, []),
                   *protocol["split"]["test"].get(c, [])})
        for c in protocol["split"]["train"]
    }  # fmt: skip
    assert record["speakers"] == protocol_speakers  # test speakers ("01", "OAF") included
    assert summary["test"] == protocol["test"] and summary["calibration"] == protocol["calibration"]
    assert summary["protocol_model_version"] == before.model_version != after.model_version
    assert after.metadata.training_data["refit"]["speakers"] == protocol_speakers
    assert after.metadata.training_data["train_speakers"] == protocol["split"]["train"]
    assert after.calibration == before.calibration
    assert "refit on every speaker" in (out / "MODEL_CARD.md").read_text()

    # New plain weights; the normalised head reads the same encoder: the same answers.
    clips = sorted((toy_corpora / "ravdess" / "Actor_01").glob("*.wav"))
    limits = AudioLimits()
    features = after.prepare(clips[0], limits).utterance.features
    assert not np.allclose(after.run(features), before.run(features), atol=1e-4)
    stats = SpeakerStats.empty(after.adaptation.n_features, len(after.labels))
    for clip in clips:
        stats = stats.merged(after.enrol(clip, limits))
    assert after.adaptation == before.adaptation
    np.testing.assert_allclose(
        after.run_adapted(features, stats)[1], before.run_adapted(features, stats)[1], atol=1e-5
    )

    calibrate = ["calibrate", "--data", str(toy_corpora), "--out", str(out), "--cache",
                 str(trained_v3 / "cache")]  # fmt: skip
    refused = CliRunner().invoke(app, calibrate)
    assert refused.exit_code == 1 and "refit on every speaker" in refused.output
    bad = CliRunner().invoke(app, [*refit, "--epochs", "0"])
    assert bad.exit_code == 2 and "--epochs" in bad.output
    # Adapting the refit would score the test speakers with a plain head that heard them.
    again = CliRunner().invoke(app, adapt)
    assert again.exit_code == 1 and "refitted on every speaker" in again.output


def test_ser_train_adapt_adds_a_speaker_adapted_head_to_the_trained_model(
    trained_v3: Path, toy_corpora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ser-train adapt` (docs/profiles.md) on the trained toy model: one
    graph with both heads, its rules and protocol in the metadata; re-running replaces the
    head; `--compare` runs the protocol for several recipes instead."""
    import shutil

    from ser_inference import AudioLimits, EmotionClassifier, SpeakerStats
    from ser_training.cli import app

    out = tmp_path / "models"
    shutil.copytree(trained_v3, out, ignore=shutil.ignore_patterns("cache"))
    plain = EmotionClassifier.load(out / "ser_model.onnx")
    assert plain.adaptation is None
    args = ["adapt", "--data", str(toy_corpora), "--out", str(out), "--work",
            str(tmp_path / "work"), "--seeds", "2", "--threads", "1"]  # fmt: skip
    for _ in range(2):  # the second run starts from the first run's output
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "held_out:ravdess: plain" in result.output

    adapted = EmotionClassifier.load(out / "ser_model.onnx")
    rule = adapted.adaptation
    assert rule is not None and rule.n_features == 3 * 2 * TINY_SHAPE["d_model"]
    assert rule.min_windows >= 1 and 0 < rule.max_dominant_share <= 1
    assert rule.serves_domains and rule.domain_prior_windows > 0
    summary = json.loads((out / "evaluation" / "adaptation.json").read_text())
    assert set(summary["table"]) == {"ravdess", "emodb", "tess"}  # test speakers only
    assert summary["test_speakers"]["ravdess"] == ["01", "02", "11", "12", "21", "22"]
    row = summary["table"]["ravdess"]["random_5"]
    assert row["seeds"] == 2 and 0 <= row["served"] <= 100
    domain = summary["domain_table"]
    assert set(domain) == {
        f"{k}:{c}" for k in ("held_out", "trained") for c in ("ravdess", "emodb", "tess")
    }
    assert domain["held_out:tess"]["domain:random_100"]["seeds"] == 2
    assert rule.metrics["held_out:tess"]["plain"] == domain["held_out:tess"]["plain"]["mean"]
    assert "Domain and speaker profiles" in (out / "MODEL_CARD.md").read_text()

    compare = [*args, "--compare", "domain_core,speaker_core", "--seeds", "1"]
    result = CliRunner().invoke(app, compare)
    assert result.exit_code == 0, result.output
    compared = json.loads((out / "evaluation" / "adaptation_compare.json").read_text())
    assert set(compared["recipes"]) == {"domain_core", "speaker_core"}
    assert "held_out:emodb" in compared["recipes"]["speaker_core"]["runs"]
    wrong = CliRunner().invoke(app, [*args, "--compare", "nonsense"])
    assert wrong.exit_code == 2 and "unknown recipe" in wrong.output

    # ser-train trust (issue 34): per-corpus calibration of the adapted heads, one-mood
    # enrolments, and the answer-entropy limit written into the served model.
    import ser_training.adaptation.trust as trust_module
    from ser_training.adaptation.job import MIN_ANSWER_ENTROPY

    assert adapted.adaptation.min_answer_entropy == MIN_ANSWER_ENTROPY  # adapt writes it

    # The toy speakers have a few clips per emotion: enrolments of 3 (1 neutral).
    for name, value in (("ENROLMENT_CLIPS", 3), ("NEUTRAL_CLIPS", 1), ("MIN_SHORT_CLIPS", 2),
                        ("DRAWS", 2)):  # fmt: skip
        monkeypatch.setattr(trust_module, name, value)
    trust = ["trust", "--data", str(toy_corpora), "--out", str(out), "--work",
             str(tmp_path / "work"), "--threads", "1"]  # fmt: skip
    result = CliRunner().invoke(app, trust)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluation" / "trust.json").read_text())
    assert set(report["calibration"]) == {"ravdess", "emodb", "tess"}
    figures = report["calibration"]["tess"]["speaker"]["other corpora"]
    assert 0 <= figures["ece"] <= 1 and figures["clips"] > 0 and figures["temperature"] > 0
    assert set(report["one_mood"]) == {"test speakers"}
    rules = report["one_mood"]["test speakers"]
    assert len(rules) == 2  # the rule without and with the entropy limit
    assert all(row["enrolments"] > 0 for row in rules.values())
    assert "## One-mood enrolments" in (out / "evaluation" / "trust.md").read_text()
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Trust: calibration per corpus" in card and "Domain and speaker profiles" in card
    limited = EmotionClassifier.load(out / "ser_model.onnx").adaptation
    assert limited.min_answer_entropy == report["min_answer_entropy"] == MIN_ANSWER_ENTROPY
    assert limited == rule  # nothing else moved
    # Without the limit in the model (a head adapted before it), trust writes it.
    from ser_training.adaptation.trust import with_entropy_rule

    with_entropy_rule(out / "ser_model.onnx", 0.0)
    assert CliRunner().invoke(app, trust).exit_code == 0
    assert EmotionClassifier.load(out / "ser_model.onnx").adaptation == rule
    no_head = tmp_path / "plain"
    shutil.copytree(trained_v3, no_head, ignore=shutil.ignore_patterns("cache"))
    refused = CliRunner().invoke(app, [*trust[:3], "--out", str(no_head), *trust[5:]])
    assert refused.exit_code == 1 and "no adapted head" in refused.output

    # Plain answers are the plain model's; a usable profile changes them.
    clips = sorted((toy_corpora / "ravdess" / "Actor_01").glob("*.wav"))
    limits = AudioLimits()
    stats = SpeakerStats.empty(rule.n_features, len(adapted.labels))
    for clip in clips:
        stats = stats.merged(adapted.enrol(clip, limits))
    prepared = adapted.prepare(clips[0], limits)
    np.testing.assert_allclose(
        adapted.predict(clips[0], limits).probabilities,
        plain.predict(clips[0], limits).probabilities, atol=1e-6,
    )  # fmt: skip
    forced = adapted.run_adapted(prepared.utterance.features, stats)[1]
    assert not np.allclose(forced, adapted.run(prepared.utterance.features), atol=1e-4)

    # bench.domains_api --held-out: the same model with a head fitted without one corpus.
    from bench.domains_api import fold_models

    folds = fold_models(
        out / "ser_model.onnx", toy_corpora, ["tess", "emodb"], tmp_path, work=tmp_path / "work"
    )
    fold = EmotionClassifier.load(folds["tess"])
    assert fold.adaptation == limited and fold.model_version == adapted.model_version
    without_tess = fold.run_adapted(prepared.utterance.features, stats)[1]
    # Another head in the same graph (the toy heads saturate: compare log-probabilities).
    assert not np.allclose(np.log(without_tess), np.log(forced), atol=1e-2)
    without_emodb = EmotionClassifier.load(folds["emodb"]).run_adapted(
        prepared.utterance.features, stats
    )[1]
    assert not np.allclose(np.log(without_emodb), np.log(without_tess), atol=1e-2)
