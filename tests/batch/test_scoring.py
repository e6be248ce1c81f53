"""score_files (what each Ray actor runs): the API classifier's numbers, errors as rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser_batch.scoring import MAX_WINDOWS_PER_RUN, probability_columns, score_files
from ser_inference import AudioLimits, EmotionClassifier
from tests.api.conftest import SHIPPED_MODEL
from tests.batch.conftest import make_archive
from tests.support.audio import harmonic_tone, write_audio

LIMITS = AudioLimits()
PARITY_ATOL = 1e-6  # the bar: batch probabilities equal the API's within this


def _assert_parity(classifier: EmotionClassifier, paths: list[str]) -> list[dict]:
    """Each file scored in one batch equals EmotionClassifier.predict on its bytes alone."""
    table = score_files(classifier, paths, LIMITS, with_segments=True)
    columns = probability_columns(classifier.labels)
    for row in table.to_pylist():
        expected = classifier.predict(Path(row["path"]).read_bytes(), LIMITS)
        got = np.array([row[c] for c in columns])
        np.testing.assert_allclose(got, expected.probabilities, rtol=0, atol=PARITY_ATOL)
        assert row["emotion"] == expected.emotion
        # The API's answer fields, from the same Judgement: reused, not recomputed.
        for name in ("confidence", "arousal", "valence"):
            assert row[name] == pytest.approx(getattr(expected.judgement, name), abs=PARITY_ATOL)
        assert row["uncertain"] == expected.judgement.uncertain
        assert row["duration_s"] == pytest.approx(expected.duration_s)
        assert row["sample_rate"] == expected.source_sample_rate
        windows = [w for w in expected.windows if not w.silent]
        voiced = [s for s in row["segments"] if not s["silent"]]
        assert len(voiced) == len(windows)
        for segment, window in zip(voiced, windows, strict=True):
            got = np.array([segment[c] for c in columns])
            np.testing.assert_allclose(got, window.probabilities, rtol=0, atol=PARITY_ATOL)
            assert segment["uncertain"] == window.judgement.uncertain
            assert segment["arousal"] == pytest.approx(window.judgement.arousal, abs=PARITY_ATOL)
        assert all(s["arousal"] is None and s["valence"] is None
                   for s in row["segments"] if s["silent"])  # fmt: skip
    return table.to_pylist()


def test_batched_probabilities_equal_the_api_classifier(batch_model: Path, tmp_path: Path) -> None:
    files = make_archive(tmp_path, n_good=5)
    good = [str(files[f"good{i}"]) for i in range(5)] + [str(files["memo"])]
    _assert_parity(EmotionClassifier.load(batch_model), good)


def test_a_long_file_is_sent_to_the_model_in_its_own_call(
    batch_model: Path, tmp_path: Path
) -> None:
    # 140 s at the tiny model's 0.5-s hops: more windows than one model call takes.
    long = write_audio(tmp_path / "long.wav", harmonic_tone(140.0, seed=5))
    short = [write_audio(tmp_path / f"s{i}.wav", harmonic_tone(2.0, seed=i)) for i in range(3)]
    paths = [str(p) for p in [short[0], long, *short[1:]]]
    rows = _assert_parity(EmotionClassifier.load(batch_model), paths)
    assert len(rows[1]["segments"]) > MAX_WINDOWS_PER_RUN


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="models/ser_model.onnx not exported yet")
def test_shipped_model_parity(tmp_path: Path) -> None:
    rates = (16_000, 44_100, 48_000)
    clips = [
        write_audio(tmp_path / f"c{i}.wav", harmonic_tone(3.0 + i, rate=rate, seed=i), rate)
        for i, rate in enumerate(rates)
    ]
    _assert_parity(EmotionClassifier.load(SHIPPED_MODEL), [str(p) for p in clips])


def test_bad_files_become_rows_with_the_api_reason(batch_model: Path, tmp_path: Path) -> None:
    files = make_archive(tmp_path, n_good=1)
    names = ["good0", "undecodable", "empty", "silent"]
    paths = [str(files[name]) for name in names] + [str(tmp_path / "vanished.wav")]
    limits = AudioLimits(max_duration_s=1.0)  # good0 (1.5 s) is now too long
    rows = score_files(EmotionClassifier.load(batch_model), paths, limits).to_pylist()
    assert [r["path"] for r in rows] == paths
    assert [r["error"] for r in rows] == [
        "too_long", "undecodable", "empty", "silent", "undecodable"
    ]  # fmt: skip
    for row in rows:
        assert row["emotion"] is None and row["error_detail"]
        assert "\n" not in row["error_detail"]
    assert "limit is 1 s" in rows[0]["error_detail"]
