"""Silence is decided in ser_features.silence, and every caller uses that decision."""

from __future__ import annotations

import numpy as np
import pytest

from ser_features import FeatureConfig, SilentAudioError, load_audio, split_windows
from ser_features.errors import (
    AudioError,
    AudioTooLongError,
    EmptyAudioError,
    NonFiniteAudioError,
    UndecodableAudioError,
    UnsupportedSampleRateError,
)
from ser_features.silence import SILENCE_PEAK, is_digital_silence, require_voiced
from ser_inference import AudioTooShortError
from tests.support.audio import harmonic_tone, wav_bytes

CONFIG = FeatureConfig()


def test_digital_silence_is_the_peak_threshold() -> None:
    assert is_digital_silence(np.full(100, SILENCE_PEAK * 0.9, np.float32))
    assert not is_digital_silence(np.full(100, SILENCE_PEAK * 1.1, np.float32))
    assert is_digital_silence(np.zeros(0, np.float32))


def test_load_audio_refuses_what_the_silence_module_calls_silence() -> None:
    quiet = np.full(16_000, SILENCE_PEAK * 0.5, np.float32)
    with pytest.raises(SilentAudioError):
        load_audio(wav_bytes(quiet, subtype="FLOAT"))


def test_windows_below_the_config_level_are_silent() -> None:
    # -75 dBFS RMS: above digital silence, below the default -70 dBFS window threshold.
    quiet = harmonic_tone(3.0) * (10 ** (-75 / 20) / 0.35)
    assert all(w.silent for w in split_windows(quiet.astype(np.float32), CONFIG))
    with pytest.raises(SilentAudioError):
        require_voiced(0, CONFIG.silence_dbfs)
    require_voiced(1, CONFIG.silence_dbfs)


def test_every_audio_error_has_its_own_reason() -> None:
    kinds = [
        EmptyAudioError,
        UndecodableAudioError,
        UnsupportedSampleRateError,
        NonFiniteAudioError,
        SilentAudioError,
        AudioTooShortError,
        AudioTooLongError,
    ]
    reasons = [kind.reason for kind in kinds]
    assert len(set(reasons)) == len(kinds)
    assert AudioError.reason not in reasons
