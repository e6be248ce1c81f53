"""On-disk cache of per-file window features, keyed by file content and feature config.

A second ``make train`` skips extraction entirely. Entries live under
``<root>/<config-and-augmentation hash>/<content hash>_<variant>.npy``; variant 0 is the clean
file, variant k ≥ 1 is the k-th random augmentation (seeded by content hash and k, so the
same file always gets the same augmented copies, and a copy is reproducible).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ser_features import FeatureConfig, FeatureExtractor, load_audio, utterance_features
from ser_training.features.augment import (
    ROBUSTNESS_CONDITIONS,
    AugmentationPolicy,
    random_augmentation,
)

# A variant is 0 (clean), k >= 1 (k-th random training augmentation) or the name of a fixed
# degradation in ROBUSTNESS_CONDITIONS (test-time robustness checks).
Variant = int | str

# Bump when augmentation code changes in a way that changes its output.
AUGMENTATION_VERSION = 1
# float32, exactly what serving computes: training sees byte-identical features (tested).
CACHE_DTYPE = np.float32


# Feature version 3 only added the "pitch" group: a config without it computes exactly the
# numbers of version 2 (the golden tests hold both), so it is keyed as version 2 wrote it.
_PITCH_FIELDS = ("pitch_fmin", "pitch_fmax", "pitch_frame_length", "pitch_threshold")


def config_identity(config: FeatureConfig) -> str:
    """JSON that identifies the numbers ``config`` computes, for cache keys and run keys: caches
    and comparison runs made before a version bump that changes nothing for it stay valid."""
    data = config.to_dict()
    if config.front_end == "handcrafted":  # what every version before 5 computed
        del data["front_end"]
        data["version"] = 4
    if config.fft == "numpy" and data["version"] == 4:  # what every version before 4 computed
        del data["fft"]
        data["version"] = 3
    if "pitch" not in config.groups and data["version"] == 3:
        for name in _PITCH_FIELDS:
            del data[name]
        data["version"] = 2
    return json.dumps(data, sort_keys=True)


def content_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (hex, first 20 characters)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:20]


@lru_cache(maxsize=4)
def _extractor(config_json: str) -> FeatureExtractor:
    return FeatureExtractor(FeatureConfig.from_json(config_json))


def compute_file_windows(
    path: Path, config: FeatureConfig, variant: Variant, digest: str, policy: AugmentationPolicy
) -> np.ndarray:
    """Window features of one file (or of its augmented copy ``variant``).

    Returns
    -------
    np.ndarray, shape (n_voiced_windows, n_frames, n_features), CACHE_DTYPE; zero rows if
    the file has no voiced window.
    """
    samples = load_audio(path, config.sample_rate, allow_silent=True).samples
    if isinstance(variant, str):
        rng = np.random.default_rng([int(digest[:8], 16), AUGMENTATION_VERSION])
        samples = ROBUSTNESS_CONDITIONS[variant](samples, rng)
    elif variant:
        rng = np.random.default_rng([int(digest[:8], 16), variant, AUGMENTATION_VERSION])
        samples = random_augmentation(samples, rng, policy)
    features = utterance_features(samples, _extractor(config.to_json())).features
    if features.size == 0:
        return np.zeros((0, *config.input_shape), dtype=CACHE_DTYPE)
    return features.astype(CACHE_DTYPE)


def _work(job: tuple[str, str, Variant, str, str, dict]) -> tuple[str, str | None]:
    path, target, variant, digest, config_json, policy_fields = job
    config = FeatureConfig.from_json(config_json)
    policy = AugmentationPolicy(**policy_fields)
    try:
        windows = compute_file_windows(Path(path), config, variant, digest, policy)
    except Exception as error:  # reported to the caller with the file name, not swallowed
        return path, f"{type(error).__name__}: {error}"
    # Write then rename: an interrupted run never leaves a half-written entry, and the process
    # id keeps two jobs sharing one cache from writing into each other's temporary file.
    tmp = f"{target}.{os.getpid()}.tmp.npy"
    np.save(tmp, windows)
    os.replace(tmp, target)
    return path, None


class FeatureCache:
    """Computes and stores window features for (file, variant) pairs."""

    dtype = np.float32  # what a window set assembled from it holds

    def __init__(
        self, root: Path, config: FeatureConfig, policy: AugmentationPolicy = AugmentationPolicy()
    ) -> None:
        self.config = config
        self.policy = policy
        key = f"{config_identity(config)}|{policy.cache_key()}|aug{AUGMENTATION_VERSION}|{np.dtype(CACHE_DTYPE).name}"
        self.directory = root / hashlib.sha256(key.encode()).hexdigest()[:16]
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "feature_config.json").write_text(config.to_json())
        self._digests: dict[Path, str] = {}

    def digest(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = content_digest(path)
        return self._digests[path]

    def entry(self, path: Path, variant: Variant) -> Path:
        tag = (
            variant if isinstance(variant, int) else hashlib.sha1(variant.encode()).hexdigest()[:10]
        )
        return self.directory / f"{self.digest(path)}_{tag}.npy"

    def ensure(
        self, items: Sequence[tuple[Path, Variant]], workers: int | None = None
    ) -> list[str]:
        """Compute every missing entry in parallel. Returns 'path: reason' for failures."""
        missing = [(p, v) for p, v in items if not self.entry(p, v).exists()]
        if not missing:
            return []
        config_json = self.config.to_json()
        policy_fields = asdict(self.policy)
        jobs = [
            (str(p), str(self.entry(p, v)), v, self.digest(p), config_json, policy_fields)
            for p, v in missing
        ]
        workers = workers or os.cpu_count() or 1
        failures = []
        # fork is unsafe once TensorFlow has started threads; spawn workers import only numpy.
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers) as pool:
            progress = tqdm(pool.imap_unordered(_work, jobs, chunksize=8), total=len(jobs),
                            desc="features", unit="file", mininterval=2.0)  # fmt: skip
            for path, error in progress:
                if error:
                    failures.append(f"{path}: {error}")
        return failures

    def load(self, path: Path, variant: Variant) -> np.ndarray:
        """Cached windows, shape (n_windows, n_frames, n_features), CACHE_DTYPE."""
        return np.load(self.entry(path, variant))
