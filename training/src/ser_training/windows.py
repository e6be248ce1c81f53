"""Stacking cached window features of many utterances into training arrays, and the optional
per-speaker normalisation of those arrays."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ser_training.datasets import Utterance
from ser_training.feature_cache import FeatureCache, Variant

SPEAKER_NORM_EPSILON = 1e-5  # added to a speaker's feature standard deviation


@dataclass
class WindowSet:
    """Windows of several utterances, each row tagged with its utterance."""

    features: np.ndarray  # shape (n_windows, n_frames, n_features), float32
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
    cache: FeatureCache,
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
        features=np.concatenate(chunks).astype(np.float32),
        labels=np.concatenate(label_rows),
        utterance=np.concatenate(owner_rows),
        utterances=kept,
    )


def normalise_by_speaker(windows: WindowSet, *, cross_fold: bool) -> WindowSet:
    """Each speaker's features z-scored per feature with statistics of that speaker's speech.

    Training speakers (``cross_fold=False``) use all their own windows. Scored speakers
    (``cross_fold=True``) are split into two folds of recordings (alternating, in index order):
    each fold is scaled with the other fold's statistics, so no recording is ever part of its
    own reference, as when a user uploads other clips of the same voice as a reference. A
    speaker with a single recording has no other speech and is scaled by its own.

    Parameters
    ----------
    windows : WindowSet with features of shape (n_windows, n_frames, n_features)

    Returns
    -------
    WindowSet, the same windows with rescaled float32 features
    """
    features = np.empty_like(windows.features)
    speakers = windows.speakers
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        pairs = [(rows, rows)]  # (scored rows, reference rows)
        if cross_fold:
            recordings = np.unique(windows.utterance[rows])
            first = rows & np.isin(windows.utterance, recordings[::2])
            second = rows & ~first
            if second.any():
                pairs = [(first, second), (second, first)]
        for scored, reference in pairs:
            frames = windows.features[reference].reshape(-1, windows.features.shape[-1])
            mean = frames.mean(axis=0, dtype=np.float64)
            std = frames.std(axis=0, dtype=np.float64)
            features[scored] = (
                (windows.features[scored] - mean) / (std + SPEAKER_NORM_EPSILON)
            ).astype(np.float32)
    return dataclasses.replace(windows, features=features)
