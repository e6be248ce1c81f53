"""Every clip of the corpora through the served graph: its voiced windows' speaker features and
plain-head probabilities, cached on disk.

The head and the evaluation read exactly what the API computes for an enrolment clip or a
request (:meth:`ser_inference.EmotionClassifier.prepare` and ``embed``), so there is no second
feature path to drift. The encoder is frozen: one pass per clip serves every experiment.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ser_features import AudioError
from ser_inference import AudioLimits, EmotionClassifier
from ser_training.data.corpora import Utterance

logger = logging.getLogger(__name__)

LIMITS = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)


@dataclass(frozen=True)
class ClipEmbeddings:
    """Windows of many clips, flattened; clip ``i`` owns rows ``offsets[i]:offsets[i + 1]``.

    features : (n_windows, n_speaker_features) float32
    probabilities : (n_windows, n_labels) float32, the plain head's
    """

    corpus: np.ndarray  # (n_clips,) str
    speaker: np.ndarray  # (n_clips,) str, globally unique "<corpus>:<id>"
    label: np.ndarray  # (n_clips,) str, product label
    path: np.ndarray  # (n_clips,) str
    seconds: np.ndarray  # (n_clips,) float, decoded length
    offsets: np.ndarray  # (n_clips + 1,) int64
    features: np.ndarray
    probabilities: np.ndarray

    def windows(self, clip: int) -> slice:
        return slice(int(self.offsets[clip]), int(self.offsets[clip + 1]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{name: getattr(self, name) for name in self.__dataclass_fields__})
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ClipEmbeddings:
        with np.load(path) as data:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def cache_key(model_path: Path, utterances: Sequence[Utterance]) -> str:
    """The model's bytes and the list of files: either changing means new embeddings."""
    digest = hashlib.sha256(Path(model_path).read_bytes())
    for u in utterances:
        digest.update(f"{u.path}|{u.label}\n".encode())
    return digest.hexdigest()[:16]


def embed_utterances(
    classifier: EmotionClassifier, utterances: Sequence[Utterance], threads: int = 2
) -> ClipEmbeddings:
    """Run every clip through ``classifier``; clips it refuses (too short, silent) are left
    out and logged, as the API would refuse them."""

    def one(u: Utterance):
        try:
            prepared = classifier.prepare(u.path, LIMITS)
        except AudioError as error:
            return u, None, str(error)
        return u, (prepared.duration_s, *classifier.embed(prepared.utterance.features)), None

    kept, skipped = [], []
    with ThreadPoolExecutor(threads) as pool:
        for u, result, error in tqdm(
            pool.map(one, utterances), total=len(utterances), desc="embeddings", mininterval=30
        ):
            (skipped if result is None else kept).append((u, result or error))
    for u, error in skipped:
        logger.warning("left out %s: %s", u.path, error)
    sizes = [len(result[1]) for _, result in kept]
    return ClipEmbeddings(
        corpus=np.array([u.corpus for u, _ in kept]),
        speaker=np.array([u.speaker for u, _ in kept]),
        label=np.array([u.label for u, _ in kept]),
        path=np.array([str(u.path) for u, _ in kept]),
        seconds=np.array([r[0] for _, r in kept], dtype=np.float64),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        features=np.concatenate([r[2] for _, r in kept]).astype(np.float32),
        probabilities=np.concatenate([r[1] for _, r in kept]).astype(np.float32),
    )


def cached_embeddings(
    classifier: EmotionClassifier, utterances: Sequence[Utterance], cache_dir: Path,
    threads: int = 2,
) -> ClipEmbeddings:  # fmt: skip
    """:func:`embed_utterances`, computed once per (model, file list) under ``cache_dir``."""
    path = cache_dir / f"embeddings-{cache_key(classifier.model_path, utterances)}.npz"
    if path.is_file():
        return ClipEmbeddings.load(path)
    embeddings = embed_utterances(classifier, utterances, threads)
    embeddings.save(path)
    return embeddings
