"""Per-speaker normalisation of window arrays: the reference is what the protocol names, never
the scored clip unless the protocol is "self"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ser_training.features.windows import WindowSet, normalise_by_speaker


@dataclass(frozen=True)
class Clip:
    speaker: str
    corpus: str = "c"


def two_speakers(rng: np.random.Generator) -> WindowSet:
    # Speaker a: 4 recordings, offset +5; speaker b: 3 recordings, scale 3; 2 windows each.
    clips = [Clip("a")] * 4 + [Clip("b")] * 3
    owner = np.repeat(np.arange(7), 2)
    features = rng.normal(size=(14, 6, 3)).astype(np.float32)
    features[owner < 4] += 5.0
    features[owner >= 4] *= 3.0
    return WindowSet(features, np.zeros(14, dtype=int), owner, clips)


def test_training_speakers_are_scaled_to_zero_mean_unit_variance() -> None:
    scaled = normalise_by_speaker(two_speakers(np.random.default_rng(0)), reference="own")
    for speaker in ("a", "b"):
        frames = scaled.features[scaled.speakers == speaker].reshape(-1, 3)
        np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-3)


def test_a_scored_recording_is_not_part_of_its_own_reference() -> None:
    windows = two_speakers(np.random.default_rng(1))
    before = normalise_by_speaker(windows, reference="others").features
    changed = windows.features.copy()
    changed[windows.utterance == 0] += 100.0  # recording 0 (fold 1 of speaker a) changes
    after = normalise_by_speaker(
        WindowSet(changed, windows.labels, windows.utterance, windows.utterances),
        reference="others",
    ).features
    own = windows.utterance == 0
    # Recording 0 is scaled by the other fold's (unchanged) statistics: a pure shift.
    shift = (after[own] - before[own]).reshape(-1, 3)
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), rtol=1e-4)
    assert np.all(shift > 0)
    same_fold = windows.utterance == 2  # a's other fold-1 recording: the same reference
    np.testing.assert_allclose(after[same_fold], before[same_fold], atol=1e-5)
    # The other fold (recordings 1 and 3) used recording 0 as reference: it moves.
    assert not np.allclose(after[windows.utterance == 1], before[windows.utterance == 1])
    b = windows.speakers == "b"
    np.testing.assert_allclose(after[b], before[b], atol=1e-6)
    assert after.dtype == np.float32 and np.isfinite(after).all()


def test_one_reference_clip_scales_each_recording_by_the_next_one_of_its_speaker() -> None:
    windows = two_speakers(np.random.default_rng(2))
    scaled = normalise_by_speaker(windows, reference="one").features
    for scored, reference in ((0, 1), (3, 0), (4, 5), (6, 4)):  # a: 0→1 … 3→0; b: 4→5 … 6→4
        frames = windows.features[windows.utterance == reference].reshape(-1, 3)
        expected = (windows.features[windows.utterance == scored] - frames.mean(axis=0)) / (
            frames.std(axis=0) + 1e-5
        )
        np.testing.assert_allclose(
            scaled[windows.utterance == scored], expected, rtol=1e-4, atol=1e-5
        )


def test_no_reference_scales_each_recording_by_itself() -> None:
    scaled = normalise_by_speaker(two_speakers(np.random.default_rng(3)), reference="self")
    for recording in range(7):
        frames = scaled.features[scaled.utterance == recording].reshape(-1, 3)
        np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-3)


def test_an_unknown_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="reference must be one of"):
        normalise_by_speaker(two_speakers(np.random.default_rng(4)), reference="neighbour")
