"""`ser-train compare`: seeds per recipe, stored runs that resume, ensembles from members."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.training, pytest.mark.slow]


@pytest.fixture(scope="module")
def compared(toy_corpora: Path, tmp_path_factory) -> tuple[Path, str]:
    pytest.importorskip("tensorflow")
    from ser_training.cli import build_config
    from ser_training.evaluation import compare

    runs = tmp_path_factory.mktemp("runs")
    base = build_config(toy_corpora, cache=runs / "cache", quick=True, workers=1)
    text = compare.run_comparison(
        base, ["ensemble3", "speaker_balance", "speaker_normalisation_self"], seeds=1,
        screen=False, runs_dir=runs, held_out=["emodb", "tess"],
    )  # fmt: skip
    return runs, text


def test_every_run_is_stored_and_the_table_has_seed_counts(compared: tuple[Path, str]) -> None:
    runs, text = compared
    records = [json.loads(p.read_text()) for p in runs.glob("*.json")]
    # ensemble3 with one seed needs three baseline members; speaker_balance one run; the
    # no-reference protocol is scored from a speaker_normalisation run.
    assert sorted((r["recipe"], r["seed"]) for r in records) == [
        ("baseline", 1337), ("baseline", 1338), ("baseline", 1339), ("speaker_balance", 1337),
        ("speaker_normalisation", 1337),
    ]  # fmt: skip
    assert (runs / "comparison_full.md").read_text() == text
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| ")
    }
    assert rows["baseline"].split(" | ")[1] == "1"  # --seeds 1: one seed in its own row
    assert rows["ensemble3"].split(" | ")[1] == "1"
    assert rows["speaker_balance"].split(" | ")[1] == "1"
    assert rows["conv2d"].split(" | ")[1] == "0"
    for name in (
        "speaker_normalisation",
        "speaker_normalisation_one",
        "speaker_normalisation_self",
    ):
        assert rows[name].split(" | ")[1] == "1", name
    assert "Decision rule" in text


def test_test_speakers_are_never_stored(compared: tuple[Path, str], toy_corpora: Path) -> None:
    runs, _ = compared
    for path in runs.glob("*.npz"):
        with np.load(path) as data:
            # EMO-DB toy speakers: 08 09 10 11 13 15; test 08 15 → 4 others × 6 emotions.
            assert len(data["emodb_truth"]) == 4 * 6
            assert "test_probabilities" not in data


def test_a_finished_run_is_not_trained_again(compared: tuple[Path, str], toy_corpora: Path) -> None:
    from ser_training.cli import build_config
    from ser_training.evaluation import compare

    runs, text = compared
    before = {p: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    trained = []
    base = build_config(toy_corpora, cache=runs / "cache", quick=True, workers=1)
    again = compare.run_comparison(
        base, ["ensemble3", "speaker_balance"], seeds=1, screen=False, runs_dir=runs,
        held_out=["emodb", "tess"], echo=trained.append,
    )  # fmt: skip
    assert not [line for line in trained if line.startswith("training")]
    assert again == text
    assert before == {p: p.stat().st_mtime_ns for p in runs.glob("*.json")}


def test_an_ensemble_scores_the_mean_of_its_members(
    compared: tuple[Path, str], toy_corpora: Path
) -> None:
    from ser_training.cli import build_config
    from ser_training.evaluation import compare

    runs, _ = compared
    base = build_config(toy_corpora, cache=runs / "cache", quick=True, workers=1)
    configs = [compare.recipe_config(base, compare.RECIPES["baseline"], s, False)
               for s in (1337, 1338, 1339)]  # fmt: skip
    loaded = [compare.load_arrays(runs / f"{compare.run_key('baseline', c)}.npz") for c in configs]
    mean = np.mean([a["tess_probabilities"] for a in loaded], axis=0)
    expected = compare.score_probabilities(
        mean, loaded[0]["tess_truth"], base.labels, restrict_to_present=True
    )
    (scores,) = compare.recipe_scores(
        "ensemble3", compare.RECIPES["ensemble3"], configs, runs, base.labels, ["tess"]
    )
    assert scores["tess"] == expected
    single = compare.score_probabilities(
        loaded[0]["tess_probabilities"], loaded[0]["tess_truth"], base.labels, True
    )
    assert np.isfinite(single["accuracy"])


def test_held_out_corpus_calibration_reads_the_stored_folds(compared: tuple[Path, str]) -> None:
    from ser_features import EMOTIONS
    from ser_training.calibration.fit import held_out_corpus_calibration

    runs, _ = compared
    figures = held_out_corpus_calibration(runs, "baseline", EMOTIONS)
    assert set(figures) == {"emodb", "tess"}
    for corpus, m in figures.items():
        assert m["runs"] == 3 and len(m["temperatures"]) == 3
        assert m["calibrated"]["n"] == m["uncalibrated"]["n"] > 0
        # Temperature never changes which emotion wins.
        assert m["calibrated"]["accuracy"] == m["uncalibrated"]["accuracy"], corpus
        assert 0.0 <= m["calibrated"]["ece"] <= 1.0


def test_speaker_normalised_runs_store_every_reference_protocol(compared: tuple[Path, str]) -> None:
    runs, _ = compared
    (path,) = runs.glob("speaker_normalisation__*.npz")
    with np.load(path) as data:
        for reference in ("one", "self"):
            for key in ("validation", "emodb", "tess"):
                stored = data[f"{key}_probabilities@{reference}"]
                assert stored.shape == data[f"{key}_probabilities"].shape, (key, reference)
                np.testing.assert_allclose(stored.sum(axis=1), 1.0, atol=1e-4)
        # Less reference speech is a different input: the answers are not those of "others".
        assert not np.allclose(
            data["validation_probabilities@self"], data["validation_probabilities"]
        )
    for path in runs.glob("baseline__*.npz"):
        with np.load(path) as data:
            assert not any("@" in key for key in data)  # only speaker-normalised runs have them


def test_the_job_defaults_are_the_named_winning_recipe(tmp_path: Path) -> None:
    """`make train` trains DEFAULT_RECIPE_NAME, so its compare runs are the ones that calibrate
    it; and the baseline row stays the first recipe whatever the defaults are."""
    pytest.importorskip("tensorflow")
    from ser_training import job
    from ser_training.cli import build_config
    from ser_training.evaluation import compare

    base = build_config(tmp_path)
    winner = compare.recipe_config(base, compare.RECIPES[job.DEFAULT_RECIPE_NAME], 1, False)
    assert winner.recipe() == base.recipe()
    assert base.calibration_recipe == job.DEFAULT_RECIPE_NAME
    first = compare.recipe_config(base, compare.RECIPES["baseline"], 1, False)
    assert first.feature_config.groups == ("zcr", "rms", "mfcc", "delta_mfcc", "log_mel")
    assert first.hyperparameters.pooling == "meanmax"


def test_ensemble_samples_share_no_member(tmp_path: Path) -> None:
    """Ensembles of K seeds are scored over disjoint blocks: overlapping ones share members,
    are not independent samples, and would understate the spread the decision rule reads."""
    pytest.importorskip("tensorflow")
    from ser_training.cli import build_config
    from ser_training.evaluation import compare
    from tests.support.compare_runs import CORPORA, store_run

    base = build_config(tmp_path)
    members = [
        compare.recipe_config(base, compare.RECIPES["baseline"], 1337 + i, True) for i in range(6)
    ]
    ensemble = compare.RECIPES["ensemble3"]

    def samples() -> int:
        scores = compare.recipe_scores(
            "ensemble3", ensemble, members, tmp_path, base.labels, CORPORA
        )
        return len(scores)

    for config in members[:5]:
        store_run(tmp_path, compare.run_key("baseline", config), config.seed)
    assert samples() == 1  # seeds 1337–1339; 1340 and 1341 start the next block
    store_run(tmp_path, compare.run_key("baseline", members[5]), members[5].seed)
    assert samples() == 2


def test_a_fold_added_later_leaves_old_runs_comparable(tmp_path: Path) -> None:
    """Runs stored before nEMO's fold existed have no nEMO column: their row shows '–' there
    and every row's mean is over the corpora all rows were scored on."""
    pytest.importorskip("tensorflow")
    from ser_training.cli import build_config
    from ser_training.evaluation import compare
    from tests.support.compare_runs import CORPORA, store_run

    base = build_config(tmp_path)
    configs = {
        name: [compare.recipe_config(base, compare.RECIPES[name], 1337 + i, True) for i in range(2)]
        for name in ("baseline", "nemo_speakers")
    }
    for name, seeds in configs.items():
        for config in seeds:
            store_run(tmp_path, compare.run_key(name, config), config.seed)
    newer = tmp_path / f"{compare.run_key('nemo_speakers', configs['nemo_speakers'][0])}.npz"
    with np.load(newer) as data:  # the newer recipe's first seed also has the nEMO fold
        arrays = dict(data) | {"nemo_probabilities": data["tess_probabilities"],
                               "nemo_truth": data["tess_truth"]}  # fmt: skip
    np.savez_compressed(newer, **arrays)
    held_out = [*CORPORA, "nemo"]
    rows = {
        name: compare.recipe_scores(
            name, compare.RECIPES[name], seeds, tmp_path, base.labels, held_out
        )
        for name, seeds in configs.items()
    }
    assert "nemo" in rows["nemo_speakers"][0] and "nemo" not in rows["nemo_speakers"][1]
    text = compare.table(rows, compare.RECIPES, held_out, "screening")
    assert "mean held-out acc (emodb, tess)" in text
    cells = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()
             if line.startswith("| ") and not line.startswith("| recipe")}  # fmt: skip
    assert cells["nemo_speakers"][5] == "–"  # one of two seeds has the fold: no partial mean
    for name, scores in rows.items():
        mean = np.mean([np.mean([s[c]["accuracy"] for c in CORPORA]) for s in scores])
        assert cells[name][6].startswith(f"{100 * mean:.1f} ± ")


def test_the_encoder_recipes_configure_the_encoder_and_its_front_end(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from ser_training.cli import build_config
    from ser_training.evaluation import compare

    base = build_config(tmp_path)
    for name in ("whisper_head", "whisper_head_middle", "whisper_head_more_speakers"):
        config = compare.recipe_config(base, compare.RECIPES[name], 1337, True)
        assert config.encoder == "whisper-tiny.en", name
        assert config.feature_config.front_end == "whisper", name
        assert config.hyperparameters.pooling == "stats" and config.augment_copies == 1
    middle = compare.recipe_config(base, compare.RECIPES["whisper_head_middle"], 1337, True)
    assert middle.encoder_layers == (1, 2, 3)
    # Hand-crafted rows keep their stored run keys: nothing of the encoder enters them.
    baseline = compare.recipe_config(base, compare.RECIPES["baseline"], 1337, True)
    assert "encoder" not in baseline.recipe()
