"""FeatureConfig: JSON round trip and refusal of configurations this code cannot reproduce."""

from __future__ import annotations

import json

import pytest

from ser_features import FEATURE_VERSION, FeatureConfig, FeatureConfigError


def test_json_round_trip_is_lossless() -> None:
    config = FeatureConfig(window_s=2.0, n_mels=40, groups=("mfcc", "rms"), normalization="none")
    assert FeatureConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["groups"] == ["mfcc", "rms"]


def test_shapes_follow_from_the_parameters() -> None:
    config = FeatureConfig()
    assert config.window_samples == 48_000
    assert config.n_frames == 301  # centred framing: 1 + 48000 // 160
    assert config.n_features == 1 + 1 + 20 + 20 + 64
    assert config.input_shape == (301, 106)


@pytest.mark.parametrize(
    "change",
    [{"version": FEATURE_VERSION + 1}, {"groups": ["mfcc", "chroma"]}, {"groups": []},
     {"normalization": "global"}, {"frame_length": 1024, "n_fft": 512}, {"delta_width": 4},
     {"fmax": 9000.0}, {"n_mfcc": 80, "n_mels": 64}, {"window_s": 0}, {"pad_mode": "mirror"}],
)  # fmt: skip
def test_irreproducible_configs_are_refused(change: dict) -> None:
    data = {**FeatureConfig().to_dict(), **change}
    with pytest.raises(FeatureConfigError):
        FeatureConfig.from_dict(data)


def test_version_1_config_reads_as_zero_padding() -> None:
    # Models exported before pad_mode existed were trained on zero-padded windows.
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k != "pad_mode"} | {"version": 1}
    config = FeatureConfig.from_dict(old)
    assert config.version == FEATURE_VERSION
    assert config.pad_mode == "zero"


def test_version_1_config_with_a_pad_mode_is_refused() -> None:
    data = {**FeatureConfig().to_dict(), "version": 1, "pad_mode": "repeat"}
    with pytest.raises(FeatureConfigError):
        FeatureConfig.from_dict(data)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(FeatureConfigError, match="does not know"):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), "pre_emphasis": 0.97})


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_malformed_json_is_refused(text: str) -> None:
    with pytest.raises(FeatureConfigError):
        FeatureConfig.from_json(text)
