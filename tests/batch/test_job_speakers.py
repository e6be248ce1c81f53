"""ser-batch --speaker-from on a local Ray with the tiny v3 model's adapted head (issue 24):
each speaker's profile from all its files, answers equal to the classifier's own adapted
answer for that profile, plain answers with their reason where a profile cannot be used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ser_batch.inputs import InputError
from ser_batch.job import JobConfig, run_job
from ser_batch.results import ResultStore, segments_path
from ser_batch.scoring import Adaptation, probability_columns, score_files
from ser_batch.speakers import NO_SPEAKER_FOLDER, NO_SPEAKER_IN_NAME, SpeakerRule
from ser_inference import (
    AdaptationUnavailableError,
    AudioLimits,
    EmotionClassifier,
    Prediction,
    SpeakerStats,
)
from tests.support.audio import SAMPLE_RATE, harmonic_tone, wav_bytes

pytestmark = [
    pytest.mark.training,
    pytest.mark.usefixtures("ray_knowing_tiny_encoder", "known_tiny_encoder"),
]

LIMITS = AudioLimits()
# The plain parity of tests/batch/test_scoring.py is 1e-6; a profile here sums its windows'
# float32 statistics in the job's order (batches of files, workers), not clip by clip, and
# answers moved by 3e-6 in one run under load.
ATOL = 1e-5
SPEAKER_COLUMNS = [
    "speaker", "adapted", "adaptation_reason", "plain_emotion", "plain_confidence", "adaptation",
]  # fmt: skip
ANSWER_COLUMNS = ["emotion", "confidence", "uncertain", "arousal", "valence"]


def _quiet_whistle(duration_s: float) -> np.ndarray:
    """A faint 3.2-kHz sine: the tiny model's plain head answers 'sad' to its windows and
    'surprised' to the harmonic tones, so a speaker with both is not "too uniform"."""
    t = np.arange(round(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.01 * np.sin(2 * np.pi * 3200.0 * t)).astype(np.float32)


def _write(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(samples))
    return path


def _config(source: Path, out: Path, model: Path, rule: str, **overrides: object) -> JobConfig:
    # 2 files per batch: a speaker's files spread over several actor calls in both passes.
    options = {"limits": LIMITS, "workers": 2, "files_per_batch": 2, **overrides}
    return JobConfig(
        input=source, out=out, model=model, speaker_from=SpeakerRule.parse(rule), **options
    )


def _profile(classifier: EmotionClassifier, files: list[Path]) -> SpeakerStats:
    """The speaker's profile computed here, clip by clip, without the job."""
    stats = SpeakerStats.empty(classifier.adaptation.n_features, len(classifier.labels))
    for path in files:
        stats = stats.merged(classifier.enrol(path.read_bytes(), LIMITS))
    return stats


def _assert_answer(row: dict, expected: Prediction, labels: tuple[str, ...]) -> None:
    got = np.array([row[c] for c in probability_columns(labels)])
    np.testing.assert_allclose(got, expected.probabilities, rtol=0, atol=ATOL)
    assert row["emotion"] == expected.emotion
    for name in ("confidence", "arousal", "valence"):
        assert row[name] == pytest.approx(getattr(expected.judgement, name), abs=ATOL)
    assert row["uncertain"] == expected.judgement.uncertain
    plain = expected.plain or expected
    assert row["plain_emotion"] == plain.emotion
    assert row["plain_confidence"] == pytest.approx(plain.confidence, abs=ATOL)


def _assert_adapted(
    row: dict, path: Path, profile: SpeakerStats, classifier: EmotionClassifier
) -> Prediction:
    expected = classifier.predict_adapted(classifier.prepare(path.read_bytes(), LIMITS), profile)
    assert expected.adapted, expected.adaptation_reason  # the test audio must stay usable
    assert row["adapted"] is True and row["adaptation_reason"] is None
    _assert_answer(row, expected, classifier.labels)
    # The adapted head does answer differently: a plain answer in its place would fail here.
    assert np.abs(expected.probabilities - expected.plain.probabilities).max() > 1e-2
    return expected


def _assert_plain(row: dict, path: Path, reason: str, classifier: EmotionClassifier) -> None:
    expected = classifier.predict(path.read_bytes(), LIMITS)
    assert row["adapted"] is False and row["adaptation_reason"] == reason
    _assert_answer(row, expected, classifier.labels)
    assert row["plain_emotion"] == row["emotion"]


def test_speakers_from_folders_are_adapted_to_the_profile_of_all_their_files(
    tiny_v3_adapted_model: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    speaker_a = [
        _write(archive / "speakerA" / "a1.wav", harmonic_tone(4.5, f0_hz=120.0, seed=1)),
        _write(archive / "speakerA" / "a2.wav", harmonic_tone(3.0, f0_hz=220.0, seed=2)),
        _write(archive / "speakerA" / "a3.wav", _quiet_whistle(4.5)),
    ]
    broken = archive / "speakerA" / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100))
    speaker_b = _write(archive / "speakerB" / "b1.wav", harmonic_tone(1.0, f0_hz=180.0, seed=3))
    lone = _write(archive / "lone.wav", harmonic_tone(2.0, f0_hz=150.0, seed=4))
    out = tmp_path / "results.parquet"
    lines: list[str] = []
    config = _config(archive, out, tiny_v3_adapted_model, "folder", segments=True)
    result = run_job(config, lines.append)

    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    table = pq.read_table(out)
    assert result.scored == 6
    assert table.column_names == [
        "path", *ANSWER_COLUMNS, *probability_columns(classifier.labels), "duration_s",
        "sample_rate", "model_version", "error", "error_detail", *SPEAKER_COLUMNS,
    ]  # fmt: skip
    rows = {Path(row["path"]).name: row for row in table.to_pylist()}

    # speakerA: one profile from its three decodable files (each alone is unusable: too few
    # windows or all one answer), the broken one reported and left out.
    profile_a = _profile(classifier, speaker_a)
    assert profile_a.clips == 3
    for path in speaker_a:
        assert rows[path.name]["speaker"] == "speakerA"
        _assert_adapted(rows[path.name], path, profile_a, classifier)
    assert rows["broken.wav"]["error"] == "undecodable"
    assert rows["broken.wav"]["speaker"] == "speakerA"
    assert rows["broken.wav"]["adapted"] is None and rows["broken.wav"]["emotion"] is None

    # speakerB: one short clip, one voiced window: unusable, the plain answer and the reason.
    reason_b = classifier.unusable_reason(_profile(classifier, [speaker_b]))
    assert reason_b is not None and reason_b.startswith("too little speech")
    assert rows["b1.wav"]["speaker"] == "speakerB"
    _assert_plain(rows["b1.wav"], speaker_b, reason_b, classifier)

    # A file directly in the input folder has no speaker.
    assert rows["lone.wav"]["speaker"] is None
    _assert_plain(rows["lone.wav"], lone, NO_SPEAKER_FOLDER, classifier)

    # The timeline is the answer's: an adapted file's windows are the adapted head's.
    segments = pq.read_table(segments_path(out)).to_pylist()
    voiced = [s for s in segments if s["path"] == str(speaker_a[0]) and not s["silent"]]
    expected = classifier.predict_adapted(classifier.prepare(speaker_a[0], LIMITS), profile_a)
    windows = [w for w in expected.windows if not w.silent]
    assert len(voiced) == len(windows) == 2
    for segment, window in zip(voiced, windows, strict=True):
        got = [segment[c] for c in probability_columns(classifier.labels)]
        np.testing.assert_allclose(got, window.probabilities, rtol=0, atol=ATOL)

    report = "\n".join(lines)
    assert (
        "speaker profiles from 5 file(s) of 2 speaker(s); 1 file(s) without a speaker answered "
        "plain"
    ) in report
    assert (
        "speaker adaptation: 3 of 5 classified files adapted (1 of 2 speakers with a usable "
        "profile); plain: 1 with an unusable profile, 1 without a speaker"
    ) in report
    assert "undecodable 1" in report


def test_speakers_from_a_regex_and_a_rerun_profiles_new_files_with_the_scored_ones(
    tiny_v3_adapted_model: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    ann = [
        _write(archive / "ann_1.wav", harmonic_tone(4.5, f0_hz=120.0, seed=1)),
        _write(archive / "ann_2.wav", _quiet_whistle(4.5)),
    ]
    bob = _write(archive / "bob_1.wav", harmonic_tone(1.0, f0_hz=180.0, seed=3))
    notes = _write(archive / "notes-1.wav", harmonic_tone(2.0, f0_hz=150.0, seed=4))
    out = tmp_path / "results.parquet"
    rule = r"^(\w+)_\d+\.wav$"
    run_job(_config(archive, out, tiny_v3_adapted_model, rule), lambda _: None)

    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    rows = {Path(row["path"]).name: row for row in pq.read_table(out).to_pylist()}
    assert {name: row["speaker"] for name, row in rows.items()} == {
        "ann_1.wav": "ann", "ann_2.wav": "ann", "bob_1.wav": "bob", "notes-1.wav": None,
    }  # fmt: skip
    profile = _profile(classifier, ann)
    for path in ann:
        _assert_adapted(rows[path.name], path, profile, classifier)
    reason_bob = classifier.unusable_reason(_profile(classifier, [bob]))
    _assert_plain(rows["bob_1.wav"], bob, reason_bob, classifier)
    _assert_plain(rows["notes-1.wav"], notes, NO_SPEAKER_IN_NAME, classifier)

    # A new recording of ann arrives: it is adapted to the profile of all three of her files
    # (the two already scored are enrolled again, not scored again: their rows stay).
    ann.append(_write(archive / "ann_3.wav", harmonic_tone(3.0, f0_hz=220.0, seed=2)))
    lines: list[str] = []
    second = run_job(_config(archive, out, tiny_v3_adapted_model, rule), lines.append)
    assert (second.scored, second.skipped) == (1, 4)
    after = {Path(row["path"]).name: row for row in pq.read_table(out).to_pylist()}
    _assert_adapted(after["ann_3.wav"], ann[2], _profile(classifier, ann), classifier)
    assert {name: after[name] for name in rows} == rows
    assert "speaker profiles from 3 file(s) of 1 speaker(s); 0 file(s) without a speaker " \
        "answered plain" in lines  # fmt: skip


def test_an_output_is_resumed_only_with_the_same_kind_of_answers(
    tiny_v3_adapted_model: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    first = _write(archive / "ann" / "a.wav", harmonic_tone(2.0, seed=1))
    _write(archive / "ann" / "b.wav", harmonic_tone(2.0, seed=2))
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    plain_out, adapted_out = tmp_path / "plain.parquet", tmp_path / "adapted.parquet"
    # An interrupted run of each kind left one part behind.
    ResultStore(plain_out).write_part(score_files(classifier, [str(first)], LIMITS))
    adapted = score_files(
        classifier, [str(first)], LIMITS, adaptations=[Adaptation(None, None, NO_SPEAKER_FOLDER)]
    )
    ResultStore(adapted_out).write_part(adapted)

    with pytest.raises(InputError, match="was written without --speaker-from"):
        run_job(_config(archive, plain_out, tiny_v3_adapted_model, "folder"), lambda _: None)
    plain_config = JobConfig(input=archive, out=adapted_out, model=tiny_v3_adapted_model,
                             limits=LIMITS)  # fmt: skip
    with pytest.raises(InputError, match="was written with --speaker-from"):
        run_job(plain_config, lambda _: None)
    assert not plain_out.exists() and not adapted_out.exists()  # nothing merged or scored


def test_a_model_without_an_adapted_head_is_refused_before_any_work(
    tiny_v3_model: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    _write(archive / "ann" / "a.wav", harmonic_tone(2.0, seed=1))
    out = tmp_path / "results.parquet"
    with pytest.raises(
        AdaptationUnavailableError, match="--speaker-from: model tiny-v3-test has no"
    ):
        run_job(_config(archive, out, tiny_v3_model, "folder"), lambda _: None)
    assert not out.exists() and not Path(f"{out}.parts").exists()


def test_domain_from_input_adapts_every_file_to_the_archive_s_profile_and_each_speaker_s(
    tiny_v3_adapted_model: Path, tmp_path: Path
) -> None:
    """--domain-from-input (issue 30): one domain profile from every decodable file of the
    input; alone it adapts every file to it, with --speaker-from a usable speaker's files use
    the speaker's windows with the domain as prior, the others the domain alone."""
    archive = tmp_path / "archive"
    ann = [
        _write(archive / "ann" / "a1.wav", harmonic_tone(4.5, f0_hz=120.0, seed=1)),
        _write(archive / "ann" / "a2.wav", _quiet_whistle(4.5)),
    ]
    bob = _write(archive / "bob" / "b1.wav", harmonic_tone(1.0, f0_hz=180.0, seed=3))
    lone = _write(archive / "lone.wav", harmonic_tone(3.0, f0_hz=150.0, seed=4))
    (archive / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100))
    everything = [*ann, bob, lone]
    classifier = EmotionClassifier.load(tiny_v3_adapted_model)
    domain = _profile(classifier, everything)
    assert classifier.unusable_reason(domain, "domain") is None  # the test audio must allow it

    out = tmp_path / "domain.parquet"
    lines: list[str] = []
    options = {"limits": LIMITS, "workers": 2, "files_per_batch": 2}
    run_job(JobConfig(input=archive, out=out, model=tiny_v3_adapted_model,
                      domain_from_input=True, **options), lines.append)  # fmt: skip
    rows = {Path(row["path"]).name: row for row in pq.read_table(out).to_pylist()}
    for path in everything:
        expected = classifier.predict_adapted(
            classifier.prepare(path, LIMITS), None, domain, own_voice=False
        )
        assert expected.adapted and expected.adaptation == "domain"
        row = rows[path.name]
        assert (row["adapted"], row["adaptation"], row["speaker"]) == (True, "domain", None)
        _assert_answer(row, expected, classifier.labels)
    assert rows["broken.wav"]["error"] == "undecodable"
    assert "domain profile from all 5 file(s) of " + str(archive) in lines
    assert any("4 of 4 classified files adapted to domain 4" in line for line in lines)

    both_out = tmp_path / "both.parquet"
    run_job(_config(archive, both_out, tiny_v3_adapted_model, "folder", domain_from_input=True),
            lambda _: None)  # fmt: skip
    rows = {Path(row["path"]).name: row for row in pq.read_table(both_out).to_pylist()}
    speaker_ann = _profile(classifier, ann)
    for path in ann:
        expected = classifier.predict_adapted(classifier.prepare(path, LIMITS), speaker_ann, domain)
        assert expected.adaptation == "speaker+domain"
        assert rows[path.name]["adaptation"] == "speaker+domain"
        _assert_answer(rows[path.name], expected, classifier.labels)
    # bob's one window is no usable profile: the domain answers, saying why not the speaker.
    assert rows["b1.wav"]["adaptation"] == "domain"
    assert rows["b1.wav"]["adaptation_reason"].startswith("speaker profile not used: too little")
    assert (rows["lone.wav"]["speaker"], rows["lone.wav"]["adaptation"]) == (None, "domain")


def test_domain_from_input_needs_a_head_trained_for_domains(
    tiny_v3_model: Path, tmp_path: Path
) -> None:
    from tests.support.v3_model import export_adapted_v3_model

    archive = tmp_path / "archive"
    _write(archive / "a.wav", harmonic_tone(2.0, seed=1))
    old = export_adapted_v3_model(tiny_v3_model, tmp_path / "old.onnx", domain_min_windows=0)
    config = JobConfig(input=archive, out=tmp_path / "r.parquet", model=old, limits=LIMITS,
                       domain_from_input=True)  # fmt: skip
    with pytest.raises(AdaptationUnavailableError, match=r"--domain-from-input: .*not trained"):
        run_job(config, lambda _: None)
    assert not (tmp_path / "r.parquet").exists()
