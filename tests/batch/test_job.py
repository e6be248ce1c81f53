"""The whole job on a local Ray: folder and manifest input, segments, resume, summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ser_batch.job import JobConfig, run_job
from ser_batch.results import ResultStore, segments_path
from ser_batch.scoring import probability_columns, score_files
from ser_inference import AudioLimits, EmotionClassifier
from tests.batch.conftest import make_archive

pytestmark = pytest.mark.usefixtures("local_ray")

LIMITS = AudioLimits()


def _config(source: Path, out: Path, model: Path, **overrides: object) -> JobConfig:
    # 2 files per batch: several actor calls and parts even for a handful of files.
    options = {"limits": LIMITS, "workers": 2, "files_per_batch": 2, **overrides}
    return JobConfig(input=source, out=out, model=model, **options)


def test_a_folder_is_scored_on_ray_with_errors_as_rows(batch_model: Path, tmp_path: Path) -> None:
    files = make_archive(tmp_path / "archive")
    out = tmp_path / "results.parquet"
    lines: list[str] = []
    result = run_job(_config(tmp_path / "archive", out, batch_model, segments=True), lines.append)

    table = pq.read_table(out)
    assert result.scored == len(files) and result.skipped == 0
    assert sorted(table["path"].to_pylist()) == sorted(str(p) for p in files.values())
    classifier = EmotionClassifier.load(batch_model)
    labels = classifier.labels
    assert table.column_names == [
        "path", "emotion", "confidence", "uncertain", "arousal", "valence",
        *probability_columns(labels), "duration_s",
        "sample_rate", "model_version", "error", "error_detail",
    ]  # fmt: skip
    rows = {Path(r["path"]).stem: r for r in table.to_pylist()}
    assert {name: rows[Path(files[name]).stem]["error"] for name in ("undecodable", "empty", "silent")} == {
        "undecodable": "undecodable", "empty": "empty", "silent": "silent"
    }  # fmt: skip
    assert rows["memo"]["error"] is None and rows["memo"]["sample_rate"] == 44_100
    # Ray actors give the numbers the API's classifier gives for each file alone.
    for name in ("good0", "good3", "memo"):
        expected = classifier.predict(files[name].read_bytes(), LIMITS).probabilities
        got = [rows[files[name].stem][c] for c in probability_columns(labels)]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        assert rows[files[name].stem]["model_version"] == classifier.model_version

    segments = pq.read_table(segments_path(out))
    assert set(segments["path"].to_pylist()) == {
        str(files[n]) for n in ("good0", "good1", "good2", "good3", "memo")
    }
    assert not (tmp_path / "results.parquet.parts").exists()
    report = "\n".join(lines)
    assert "undecodable 1" in report and "empty 1" in report and "silent 1" in report
    assert "classified: 5" in report


def test_a_rerun_skips_what_is_done_and_an_interrupted_run_keeps_its_parts(
    batch_model: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    files = make_archive(archive, n_good=3)
    out = tmp_path / "results.parquet"
    first = run_job(_config(archive, out, batch_model), lambda _: None)
    assert first.skipped == 0

    # New recordings arrive; a run that was killed left one part behind (2 of them scored).
    newcomers = make_archive(archive / "week2", n_good=3, seed=10)
    finished = [str(newcomers["good0"]), str(newcomers["good1"])]
    classifier = EmotionClassifier.load(batch_model)
    ResultStore(out).write_part(score_files(classifier, finished, LIMITS))

    lines: list[str] = []
    second = run_job(_config(archive, out, batch_model), lines.append)
    assert second.skipped == len(files) + 2
    assert second.scored == len(newcomers) - 2
    assert f"{len(files) + 2} already in" in lines[0]
    table = pq.read_table(out)
    assert table.num_rows == len(files) + len(newcomers)
    assert table["path"].to_pylist() == sorted(table["path"].to_pylist())
    assert len(set(table["path"].to_pylist())) == table.num_rows

    third = run_job(_config(archive, out, batch_model), lambda _: None)
    assert (third.scored, third.skipped) == (0, table.num_rows)


def test_a_manifest_selects_the_files(batch_model: Path, tmp_path: Path) -> None:
    files = make_archive(tmp_path / "archive", n_good=2)
    chosen = [files["good1"], files["memo"], files["silent"]]
    manifest = tmp_path / "list.csv"  # Parquet manifests: tests/batch/test_inputs.py
    paths = [str(p.relative_to(tmp_path)) for p in chosen]
    manifest.write_text("path\n" + "\n".join(paths) + "\n")
    result = run_job(_config(manifest, tmp_path / "out.parquet", batch_model), lambda _: None)
    assert sorted(result.results["path"].to_pylist()) == sorted(str(p) for p in chosen)
    assert result.results["error"].to_pylist().count("silent") == 1
