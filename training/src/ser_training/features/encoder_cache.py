"""Encoder outputs on disk: what a head on a frozen pretrained encoder trains from.

The encoder is frozen, so its outputs for a (file, variant) never change: computing them once
lets a head train in minutes on two CPUs and a comparison of heads reuse them. Each entry holds
every layer the encoder returns (``ser_encoders.whisper.encode``), averaged over ``pool``
consecutive steps, as float16; a layer selection is applied when loading, so recipes that differ
only in their layers share the cache. Keyed by the feature cache's key (feature config,
augmentation) and the encoder weights' sha256.

Shapes: the feature cache holds (n_windows, n_frames, 80) Whisper log-mel windows per entry;
an encoder entry holds (n_windows, n_layers + 2, n_frames // 2 // pool, d_model).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ser_encoders.weights import EncoderSpec, load_whisper_encoder
from ser_encoders.whisper import WhisperEncoderWeights, encode
from ser_training.features.cache import FeatureCache, Variant

ENCODER_DTYPE = np.float16  # halves the cache; the head computes in float32
ENCODE_BATCH = 32  # windows per encoder call: large enough for BLAS, small for memory


def pooled_layers(weights: WhisperEncoderWeights, windows: np.ndarray, pool: int) -> np.ndarray:
    """Every encoder layer of a batch of log-mel windows, averaged over ``pool`` steps.

    Parameters
    ----------
    windows : (n_windows, n_frames, n_mels) float32, time first as the feature cache stores them
    pool : steps averaged into one (the exported graph does the same: average pooling,
        stride ``pool``, a remainder dropped)

    Returns
    -------
    np.ndarray, shape (n_windows, n_layers + 2, n_frames // 2 // pool, d_model), float32
    """
    outputs = encode(weights, np.swapaxes(windows, 1, 2))  # (n_layers + 2, n, steps, d)
    n_layers, n, steps, d = outputs.shape
    kept = steps // pool * pool
    pooled = outputs[:, :, :kept].reshape(n_layers, n, kept // pool, pool, d).mean(axis=3)
    return np.ascontiguousarray(np.swapaxes(pooled, 0, 1))


class EncoderCache:
    """Encoder outputs for (file, variant) pairs, computed from a :class:`FeatureCache` of
    Whisper log-mel windows. Same interface as the feature cache (``ensure``, ``load``,
    ``config``), so the job assembles window sets from either."""

    dtype = ENCODER_DTYPE

    def __init__(
        self, features: FeatureCache, spec: EncoderSpec, layers: Sequence[int], pool: int = 2,
        weights_path: Path | None = None,
    ) -> None:  # fmt: skip
        if features.config.front_end != "whisper":
            raise ValueError("an encoder cache reads Whisper log-mel windows (front_end 'whisper')")
        if pool < 1 or not layers or min(layers) < 0 or max(layers) > spec.n_layers + 1:
            raise ValueError(
                f"pool must be ≥ 1 and layers in 0..{spec.n_layers + 1}, got {pool}, {layers}"
            )
        self.features = features
        self.spec = spec
        self.layers = tuple(layers)
        self.pool = pool
        self.weights_path = weights_path
        key = f"{features.directory.name}|{spec.name}|{spec.sha256}|pool{pool}|{np.dtype(ENCODER_DTYPE).name}"
        self.directory = (
            features.directory.parent / "encoder" / hashlib.sha256(key.encode()).hexdigest()[:16]
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self._weights: WhisperEncoderWeights | None = None

    @property
    def config(self):  # FeatureConfig of the log-mel windows
        return self.features.config

    def entry(self, path: Path, variant: Variant) -> Path:
        return self.directory / self.features.entry(path, variant).name

    def weights(self) -> WhisperEncoderWeights:
        """The pinned encoder (verified by sha256 on first use)."""
        if self._weights is None:
            self._weights = load_whisper_encoder(self.spec, self.weights_path)
        return self._weights

    def ensure(
        self, items: Sequence[tuple[Path, Variant]], workers: int | None = None
    ) -> list[str]:
        """Compute every missing entry (log-mel windows first). Returns 'path: reason' for
        failures. The encoder runs in this process: numpy's BLAS already uses every core."""
        failures = self.features.ensure(items, workers)
        failed = {f.split(": ", 1)[0] for f in failures}
        missing = [
            (p, v) for p, v in items if str(p) not in failed and not self.entry(p, v).exists()
        ]
        pending: list[tuple[Path, Variant, np.ndarray]] = []
        progress = tqdm(total=len(missing), desc="encoder", unit="file", mininterval=2.0)
        for index, (path, variant) in enumerate(missing):
            pending.append((path, variant, self.features.load(path, variant)))
            if sum(len(w) for *_, w in pending) >= ENCODE_BATCH or index == len(missing) - 1:
                self._encode_and_store(pending)
                progress.update(len(pending))
                pending = []
        progress.close()
        return failures

    def _encode_and_store(self, pending: list[tuple[Path, Variant, np.ndarray]]) -> None:
        stacked = [w for *_, w in pending if len(w)]
        outputs = (
            pooled_layers(self.weights(), np.concatenate(stacked).astype(np.float32), self.pool)
            if stacked
            else None
        )
        offset = 0
        n_steps = self.config.n_frames // 2 // self.pool
        empty_shape = (0, self.spec.n_layers + 2, n_steps, self.spec.d_model)
        for path, variant, windows in pending:
            block = (
                outputs[offset : offset + len(windows)] if len(windows) else np.zeros(empty_shape)
            )
            offset += len(windows)
            target = self.entry(path, variant)
            tmp = f"{target}.{os.getpid()}.tmp.npy"  # write then rename: never half an entry
            np.save(tmp, block.astype(ENCODER_DTYPE))
            os.replace(tmp, target)

    def load(self, path: Path, variant: Variant) -> np.ndarray:
        """(n_windows, len(layers), n_steps, d_model) float16 of the selected layers."""
        return np.load(self.entry(path, variant), mmap_mode="r")[:, self.layers]
