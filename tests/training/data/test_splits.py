"""Speaker-independent splits: no speaker crosses train / validation / test."""

from __future__ import annotations

from pathlib import Path

import pytest

from ser_training.data.corpora import Utterance, scan_data_dir
from ser_training.data.splits import (
    TEST_SPEAKERS,
    Split,
    assert_speaker_disjoint,
    split_by_speaker,
    split_leave_one_corpus_out,
)


def speakers(part) -> set[str]:
    return {u.speaker for u in part}


def test_split_has_no_speaker_overlap_and_uses_the_fixed_test_speakers(toy_corpora: Path) -> None:
    split = split_by_speaker(scan_data_dir(toy_corpora).utterances)
    assert not speakers(split.train) & speakers(split.test)
    assert not speakers(split.train) & speakers(split.validation)
    assert not speakers(split.validation) & speakers(split.test)
    assert {s for s in speakers(split.test) if s.startswith("ravdess")} == {
        f"ravdess:{a}" for a in TEST_SPEAKERS["ravdess"]
    }
    assert "tess:OAF" in speakers(split.test) and "tess:YAF" in speakers(split.train)
    assert {"emodb:08", "emodb:15"} <= speakers(split.test)


def test_test_and_validation_speaker_lists_are_disjoint() -> None:
    from ser_training.data.splits import VALIDATION_SPEAKERS

    for corpus, test in TEST_SPEAKERS.items():
        assert not test & VALIDATION_SPEAKERS[corpus], corpus


def test_leave_one_corpus_out_tests_on_every_speaker_of_the_held_out_corpus(
    toy_corpora: Path,
) -> None:
    utterances = scan_data_dir(toy_corpora).utterances
    split = split_leave_one_corpus_out(utterances, "emodb")
    assert {u.corpus for u in split.test} == {"emodb"}
    assert len(split.test) == sum(u.corpus == "emodb" for u in utterances)
    assert "emodb" not in {u.corpus for u in (*split.train, *split.validation)}


def test_overlap_is_detected() -> None:
    u = Utterance(Path("a.wav"), "ravdess", "ravdess:01", "ravdess:01", "angry", "angry")
    with pytest.raises(AssertionError, match="ravdess:01"):
        assert_speaker_disjoint(Split([u], [], [u]))
