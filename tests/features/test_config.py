"""FeatureConfig: JSON round trip and refusal of configurations this code cannot reproduce."""

from __future__ import annotations

import json

import pytest

from ser_features import FEATURE_VERSION, FeatureConfig, FeatureConfigError

PITCH_FIELDS = {"pitch_fmin", "pitch_fmax", "pitch_frame_length", "pitch_threshold"}  # version 3
V4_FIELDS = {"fft"}
V5_FIELDS = {"front_end"}
BEFORE_V3 = PITCH_FIELDS | V4_FIELDS | V5_FIELDS  # fields a version-1 or -2 config does not have


def test_json_round_trip_is_lossless() -> None:
    config = FeatureConfig(window_s=2.0, n_mels=40, groups=("mfcc", "rms"), normalization="none")
    assert FeatureConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["groups"] == ["mfcc", "rms"]


def test_json_round_trip_keeps_the_pitch_parameters() -> None:
    config = FeatureConfig(
        groups=("mfcc", "pitch"), pitch_fmin=75.0, pitch_fmax=400.0, pitch_frame_length=800,
        pitch_threshold=0.15,
    )  # fmt: skip
    assert FeatureConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["pitch_fmin"] == 75.0


def test_shapes_follow_from_the_parameters() -> None:
    config = FeatureConfig()
    assert config.window_samples == 48_000
    assert config.n_frames == 301  # centred framing: 1 + 48000 // 160
    assert config.n_features == 1 + 1 + 20 + 20 + 64
    assert config.input_shape == (301, 106)
    assert "pitch" not in config.groups  # the default model's numbers stay as they were


@pytest.mark.parametrize(
    "change",
    [{"version": FEATURE_VERSION + 1}, {"groups": ["mfcc", "chroma"]}, {"groups": []},
     {"normalization": "global"}, {"frame_length": 1024, "n_fft": 512}, {"delta_width": 4},
     {"fmax": 9000.0}, {"n_mfcc": 80, "n_mels": 64}, {"window_s": 0}, {"pad_mode": "mirror"},
     {"pitch_fmin": 0.0}, {"pitch_fmin": 300.0, "pitch_fmax": 200.0}, {"pitch_fmax": 800.0},
     {"pitch_threshold": 0.0}, {"pitch_threshold": 1.0},
     {"groups": ["pitch"], "pitch_frame_length": 512},  # under two periods at 60 Hz
     {"groups": ["pitch"], "hop_length": 150}],  # not a whole number of 4 kHz samples
)  # fmt: skip
def test_irreproducible_configs_are_refused(change: dict) -> None:
    data = {**FeatureConfig().to_dict(), **change}
    with pytest.raises(FeatureConfigError):
        FeatureConfig.from_dict(data)


def test_version_1_config_reads_as_zero_padding() -> None:
    # Models exported before pad_mode existed were trained on zero-padded windows.
    later = {"pad_mode", *BEFORE_V3}
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k not in later} | {"version": 1}
    config = FeatureConfig.from_dict(old)
    assert config.version == FEATURE_VERSION
    assert config.pad_mode == "zero"


def test_version_1_config_with_a_pad_mode_is_refused() -> None:
    data = {**FeatureConfig().to_dict(), "version": 1, "pad_mode": "repeat"}
    with pytest.raises(FeatureConfigError):
        FeatureConfig.from_dict(data)


def test_pitch_framing_is_checked_only_where_the_group_is_used() -> None:
    FeatureConfig(hop_length=150, pitch_frame_length=512)
    with pytest.raises(FeatureConfigError, match="too short for pitch_fmin"):
        FeatureConfig(groups=("pitch",), pitch_frame_length=512)


def test_version_2_config_reads_with_the_pitch_defaults() -> None:
    # Models exported before the pitch group existed (the shipped one among them).
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k not in BEFORE_V3}
    config = FeatureConfig.from_dict({**old, "version": 2})
    assert config == FeatureConfig()
    assert config.version == FEATURE_VERSION == 5


@pytest.mark.parametrize(
    "change", [{"pitch_fmin": 80.0}, {"groups": ["mfcc", "pitch"]}, {"pad_mode": "repeat"}]
)
def test_version_2_or_1_config_with_a_later_field_is_refused(change: dict) -> None:
    base = {k: v for k, v in FeatureConfig().to_dict().items() if k not in BEFORE_V3}
    if "pad_mode" not in change:
        with pytest.raises(FeatureConfigError, match="version-2"):
            FeatureConfig.from_dict({**base, **change, "version": 2})
    base.pop("pad_mode")
    with pytest.raises(FeatureConfigError, match="version-1"):
        FeatureConfig.from_dict({**base, **change, "version": 1})


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(FeatureConfigError, match="does not know"):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), "pre_emphasis": 0.97})


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_malformed_json_is_refused(text: str) -> None:
    with pytest.raises(FeatureConfigError):
        FeatureConfig.from_json(text)


def test_version_3_config_reads_as_the_numpy_fft() -> None:
    # Models exported with feature version 3 (the shipped one) computed their spectrum by numpy.
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k not in V4_FIELDS | V5_FIELDS}
    config = FeatureConfig.from_dict({**old, "version": 3})
    assert config == FeatureConfig() and config.fft == "numpy"
    with pytest.raises(FeatureConfigError, match="version-3"):
        FeatureConfig.from_dict({**old, "version": 3, "fft": "scipy"})
    with pytest.raises(FeatureConfigError, match="fft must be"):
        FeatureConfig(fft="fftw")


def test_version_4_config_reads_as_the_handcrafted_front_end() -> None:
    # Every model up to feature version 4 (the shipped one) read hand-crafted features.
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k not in V5_FIELDS}
    config = FeatureConfig.from_dict({**old, "version": 4})
    assert config == FeatureConfig() and config.front_end == "handcrafted"
    with pytest.raises(FeatureConfigError, match="version-4"):
        FeatureConfig.from_dict({**old, "version": 4, "front_end": "whisper"})


def test_the_whisper_front_end_reads_whisper_log_mel_windows() -> None:
    config = FeatureConfig(front_end="whisper")
    assert config.input_shape == (300, 80)  # 3-s windows: 100 frames per second, 80 bands
    assert FeatureConfig.from_json(config.to_json()) == config
    with pytest.raises(FeatureConfigError, match="whisper front end"):
        FeatureConfig(front_end="whisper", window_s=31.0)
    with pytest.raises(FeatureConfigError, match="whisper front end"):
        FeatureConfig(front_end="whisper", sample_rate=8_000, fmax=4_000.0)
    with pytest.raises(FeatureConfigError, match="front_end must be"):
        FeatureConfig(front_end="wav2vec")
