"""Audio → per-window feature tensor: the single path both training and serving take."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ser_features.audio import MAX_DECODED_VALUES, AudioSource, LoadedAudio, load_audio
from ser_features.features import FeatureExtractor
from ser_features.segmentation import Window, split_windows

T = TypeVar("T")


def map_in_parts(
    executor: Executor, function: Callable[[int, int], T], n_items: int, parts: int
) -> list[T]:
    """``function(lo, hi)`` over ``parts`` contiguous slices of ``range(n_items)`` on
    ``executor``, results in slice order (the caller concatenates them)."""
    bounds = np.linspace(0, n_items, parts + 1).astype(int)
    return list(executor.map(function, bounds[:-1], bounds[1:]))


@dataclass(frozen=True, slots=True)
class UtteranceFeatures:
    """Windows of one recording and the features of its voiced ones."""

    windows: list[Window]  # every window, silent ones included, in time order
    features: np.ndarray  # shape (n_voiced, n_frames, n_features), float32
    voiced: list[int]  # indices into ``windows`` of the rows of ``features``


def utterance_features(
    samples: np.ndarray, extractor: FeatureExtractor, *,
    executor: Executor | None = None, parts: int = 1,
) -> UtteranceFeatures:  # fmt: skip
    """Split a decoded recording into windows and compute features of the non-silent ones.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,), float32 at extractor.config.sample_rate
    executor, parts : optional
        Compute the windows in ``parts`` contiguous chunks on ``executor`` (numpy releases
        the GIL in the FFT and matrix products, so threads use several cores). Each window's
        features are the same numbers either way.
    """
    windows = split_windows(samples, extractor.config)
    voiced = [i for i, w in enumerate(windows) if not w.silent]
    batch = np.stack([windows[i].samples for i in voiced]) if voiced else np.zeros((0, 0))
    n_audio = [windows[i].n_audio for i in voiced]
    if executor is None or parts < 2 or len(voiced) < parts:
        return UtteranceFeatures(windows, extractor.batch_features(batch, n_audio), voiced)
    chunks = map_in_parts(
        executor,
        lambda lo, hi: extractor.batch_features(batch[lo:hi], n_audio[lo:hi]),
        len(voiced),
        parts,
    )
    return UtteranceFeatures(windows, np.concatenate(chunks), voiced)


def file_features(
    source: AudioSource,
    extractor: FeatureExtractor,
    *,
    max_decoded_values: int = MAX_DECODED_VALUES,
    executor: Executor | None = None,
    parts: int = 1,
) -> tuple[LoadedAudio, UtteranceFeatures]:
    """Decode ``source`` (bytes, path or file object) and compute its window features.

    ``max_decoded_values`` (frames × channels) is :func:`ser_features.load_audio`'s guard;
    ``executor`` and ``parts`` as in :func:`utterance_features`.
    """
    audio = load_audio(source, extractor.config.sample_rate, max_decoded_values=max_decoded_values)
    return audio, utterance_features(audio.samples, extractor, executor=executor, parts=parts)
