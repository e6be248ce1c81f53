"""Stacking cached window features of many utterances into training arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ser_training.datasets import Utterance
from ser_training.feature_cache import FeatureCache, Variant


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
