"""The cache: training computes byte-identical features to serving, and augments train only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ser_features import FeatureConfig, FeatureExtractor, file_features
from ser_training.data.corpora import scan_data_dir
from ser_training.data.splits import split_by_speaker
from ser_training.features.cache import FeatureCache
from ser_training.job import JobConfig, prepare_features

CONFIG = FeatureConfig(window_s=1.0, window_hop_s=0.5)


def test_training_and_serving_features_are_byte_identical(
    toy_corpora: Path, tmp_path: Path
) -> None:
    path = next((toy_corpora / "ravdess").rglob("*.wav"))
    cache = FeatureCache(tmp_path, CONFIG)
    assert cache.ensure([(path, 0)], workers=1) == []
    training = cache.load(path, 0)
    # Serving receives the upload as bytes and goes through the shared pipeline.
    _, serving = file_features(path.read_bytes(), FeatureExtractor(CONFIG))
    assert training.dtype == serving.features.dtype == np.float32
    assert training.tobytes() == serving.features.tobytes()


def test_augmented_copies_exist_for_training_speakers_only(
    toy_corpora: Path, tmp_path: Path
) -> None:
    split = split_by_speaker(scan_data_dir(toy_corpora).utterances)
    config = JobConfig(
        data_dir=toy_corpora,
        cache_dir=tmp_path,
        feature_config=CONFIG,
        augment_copies=2,
        workers=1,
        encoder=None,
    )
    cache = FeatureCache(tmp_path, CONFIG)
    prepare_features(cache, split, config)
    for u in split.train:
        assert cache.entry(u.path, 1).exists() and cache.entry(u.path, 2).exists()
    for u in (*split.validation, *split.test):
        assert cache.entry(u.path, 0).exists()
        assert not cache.entry(u.path, 1).exists(), (
            f"{u.path.name} of a held-out speaker was augmented"
        )
    # An augmented copy differs from the clean one, deterministically.
    u = split.train[0]
    assert not np.array_equal(cache.load(u.path, 0), cache.load(u.path, 1))


def test_second_run_reuses_the_cache(toy_corpora: Path, tmp_path: Path) -> None:
    path = next((toy_corpora / "emodb").rglob("*.wav"))
    cache = FeatureCache(tmp_path, CONFIG)
    cache.ensure([(path, 0)], workers=1)
    stamp = cache.entry(path, 0).stat().st_mtime_ns
    assert cache.ensure([(path, 0)], workers=1) == []
    assert cache.entry(path, 0).stat().st_mtime_ns == stamp


def test_unreadable_files_are_reported_not_swallowed(tmp_path: Path) -> None:
    bad = tmp_path / "03-01-05-01-01-01-01.wav"
    bad.write_bytes(b"not audio at all")
    failures = FeatureCache(tmp_path / "cache", CONFIG).ensure([(bad, 0)], workers=1)
    assert len(failures) == 1 and "UndecodableAudioError" in failures[0]


def test_configs_keep_the_identity_of_the_oldest_version_with_their_numbers() -> None:
    import json

    from ser_features import FeatureConfig
    from ser_training.features.cache import config_identity

    plain = json.loads(config_identity(FeatureConfig()))
    assert plain["version"] == 2 and not any(k.startswith("pitch_") for k in plain)
    groups = (*FeatureConfig().groups, "pitch")
    with_pitch = json.loads(config_identity(FeatureConfig(groups=groups)))
    assert with_pitch["version"] == 3 and with_pitch["pitch_fmin"] == 60.0
    assert "fft" not in plain and "fft" not in with_pitch  # numpy: as before version 4
    assert config_identity(FeatureConfig(n_mels=40)) != config_identity(FeatureConfig())
    scipy_fft = json.loads(config_identity(FeatureConfig(fft="scipy")))
    assert scipy_fft["version"] == 4 and scipy_fft["fft"] == "scipy"
