"""Stacking cached window features of many utterances into training arrays, and the optional
per-speaker normalisation of those arrays."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ser_training.data.corpora import Utterance
from ser_training.features.cache import FeatureCache, Variant
from ser_training.features.encoder_cache import EncoderCache

SPEAKER_NORM_EPSILON = 1e-5  # added to a speaker's feature standard deviation


@dataclass
class WindowSet:
    """Windows of several utterances, each row tagged with its utterance."""

    # (n_windows, n_frames, n_features) float32, or encoder outputs (n_windows, n_layers,
    # n_steps, d_model) float16 (features.encoder_cache)
    features: np.ndarray
    labels: np.ndarray  # shape (n_windows,), int label index
    utterance: np.ndarray  # shape (n_windows,), index into ``utterances``
    utterances: list[Utterance]

    @property
    def utterance_labels(self) -> np.ndarray:
        """Label index per utterance that has at least one voiced window, in index order."""
        return self.labels[np.unique(self.utterance, return_index=True)[1]]

    @property
    def speakers(self) -> np.ndarray:
        """Speaker id ("<corpus>:<id>") of each window, shape (n_windows,)."""
        return np.array([u.speaker for u in self.utterances])[self.utterance]

    @property
    def corpora(self) -> np.ndarray:
        """Corpus name of each window, shape (n_windows,)."""
        return np.array([u.corpus for u in self.utterances])[self.utterance]


def assemble(
    utterances: Sequence[Utterance],
    cache: FeatureCache | EncoderCache,
    labels: Sequence[str],
    variants: Sequence[Variant] = (0,),
) -> WindowSet:
    """Load every (utterance, variant) from the cache; utterances without voice are dropped."""
    index = {label: i for i, label in enumerate(labels)}
    chunks, label_rows, owner_rows = [], [], []
    kept: list[Utterance] = []
    for utterance in utterances:
        if utterance.label not in index:
            continue
        rows = [cache.load(utterance.path, v) for v in variants]
        rows = [r for r in rows if len(r)]
        if not rows:
            continue
        block = np.concatenate(rows)
        chunks.append(block)
        label_rows.append(np.full(len(block), index[utterance.label]))
        owner_rows.append(np.full(len(block), len(kept)))
        kept.append(utterance)
    if not chunks:
        raise ValueError("no voiced windows in this set of utterances")
    return WindowSet(
        features=np.concatenate(chunks).astype(cache.dtype, copy=False),
        labels=np.concatenate(label_rows),
        utterance=np.concatenate(owner_rows),
        utterances=kept,
    )


# Whose speech a speaker's features are scaled by (normalise_by_speaker):
REFERENCES = {
    "own": "all of the speaker's windows (training speakers)",
    "others": "the speaker's other recordings (two alternating folds, each scaled by the other)",
    "one": "one other recording of the speaker (the next one): a single reference clip",
    "self": "the recording itself: no reference at all",
}


def normalise_by_speaker(windows: WindowSet, *, reference: str) -> WindowSet:
    """Each speaker's features z-scored per feature with statistics of reference speech.

    ``reference`` (a key of REFERENCES) says whose: training speakers use all their own windows
    ("own"). Scored speakers never use the scored recording itself unless asked ("self"):
    "others" splits a speaker's recordings into two alternating folds, each scaled with the
    other's statistics, as when a user uploads other clips of the same voice; "one" scales each
    recording by exactly one other recording of the speaker (the next in index order,
    cyclically), as when a user uploads a single reference clip. A speaker with a single
    recording has no other speech and is scaled by its own.

    Parameters
    ----------
    windows : WindowSet with features of shape (n_windows, n_frames, n_features)

    Returns
    -------
    WindowSet, the same windows with rescaled float32 features
    """
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {list(REFERENCES)}")
    features = np.empty_like(windows.features)
    speakers = windows.speakers
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        recordings = np.unique(windows.utterance[rows])
        pairs = [(rows, rows)]  # (scored rows, reference rows)
        if reference == "others" and len(recordings) > 1:
            first = rows & np.isin(windows.utterance, recordings[::2])
            pairs = [(first, rows & ~first), (rows & ~first, first)]
        elif reference in ("one", "self"):
            following = np.roll(recordings, -1) if reference == "one" else recordings
            pairs = [
                (windows.utterance == scored, windows.utterance == other)
                for scored, other in zip(recordings, following, strict=True)
            ]
        for scored, source in pairs:
            frames = windows.features[source].reshape(-1, windows.features.shape[-1])
            mean = frames.mean(axis=0, dtype=np.float64)
            std = frames.std(axis=0, dtype=np.float64)
            features[scored] = (
                (windows.features[scored] - mean) / (std + SPEAKER_NORM_EPSILON)
            ).astype(np.float32)
    return dataclasses.replace(windows, features=features)
