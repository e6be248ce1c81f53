"""Windowing: trimming, coverage of the whole voiced part, silence flags, times."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ser_features import FeatureConfig, max_windows, split_windows, voiced_bounds
from ser_features.segmentation import fill_window, window_starts
from tests.support.audio import harmonic_tone

CONFIG = FeatureConfig()
RATE = CONFIG.sample_rate


def with_silence(before_s: float, speech_s: float, after_s: float) -> np.ndarray:
    return np.concatenate([np.zeros(round(before_s * RATE), np.float32), harmonic_tone(speech_s),
                           np.zeros(round(after_s * RATE), np.float32)])  # fmt: skip


def test_leading_and_trailing_silence_is_trimmed() -> None:
    # Bounds keep up to half a trim frame (32 ms) plus the 50 ms fade of margin: never cut speech.
    start, end = voiced_bounds(with_silence(1.0, 1.5, 0.8), CONFIG)
    assert start / RATE == pytest.approx(1.0, abs=0.1)
    assert end / RATE == pytest.approx(2.5, abs=0.1)


def test_short_utterance_is_one_window_with_original_times() -> None:
    (window,) = split_windows(with_silence(1.0, 1.5, 0.8), CONFIG)
    assert window.samples.shape == (CONFIG.window_samples,)
    assert window.start_s == pytest.approx(1.0, abs=0.1)
    assert window.end_s == pytest.approx(2.5, abs=0.1)
    assert not window.silent


def test_repeat_pad_mode_loops_a_short_utterance_to_fill_the_window() -> None:
    config = FeatureConfig(pad_mode="repeat")
    audio = with_silence(1.0, 1.5, 0.8)
    start, end = voiced_bounds(audio, config)
    (window,) = split_windows(audio, config)
    length = end - start
    # The voiced part, then the voiced part again from its start: no silence for the features.
    np.testing.assert_array_equal(window.samples[:length], audio[start:end])
    np.testing.assert_array_equal(
        window.samples[length:], audio[start:end][: CONFIG.window_samples - length]
    )


def test_zero_pad_mode_appends_silence() -> None:
    (window,) = split_windows(with_silence(1.0, 1.5, 0.8), CONFIG)  # "zero" is the default
    assert np.all(window.samples[round(1.6 * RATE) :] == 0)
    assert np.any(window.samples[: round(1.4 * RATE)] != 0)


@pytest.mark.parametrize("pad_mode", ["repeat", "zero"])
def test_n_audio_counts_the_samples_that_are_not_zero_padding(pad_mode: str) -> None:
    config = FeatureConfig(pad_mode=pad_mode)
    audio = with_silence(1.0, 1.5, 0.8)
    start, end = voiced_bounds(audio, config)
    (window,) = split_windows(audio, config)
    # Looped speech is audio; zero padding is not.
    assert window.n_audio == (config.window_samples if pad_mode == "repeat" else end - start)
    long_windows = split_windows(harmonic_tone(7.0), config)
    assert [w.n_audio for w in long_windows] == [config.window_samples] * len(long_windows)


@pytest.mark.parametrize("pad_mode", ["repeat", "zero"])
@pytest.mark.parametrize("length", [0, 1, 47_999, 48_000, 50_000])
def test_fill_window_always_gives_exactly_one_window(pad_mode: str, length: int) -> None:
    chunk = np.linspace(-0.5, 0.5, length, dtype=np.float32)
    filled = fill_window(chunk, 48_000, pad_mode)
    assert filled.shape == (48_000,) and filled.dtype == np.float32
    np.testing.assert_array_equal(filled[: min(length, 48_000)], chunk[:48_000])


@pytest.mark.parametrize("n_samples", [48_000, 48_001, 100_000, 16_000 * 600])
def test_windows_cover_every_sample_and_the_last_is_aligned_to_the_end(n_samples: int) -> None:
    starts = window_starts(n_samples, 48_000, 24_000)
    assert starts[0] == 0
    assert starts[-1] + 48_000 == max(n_samples, 48_000)
    assert all(b - a <= 24_000 for a, b in itertools.pairwise(starts))


def test_silence_in_the_middle_is_flagged_not_classified() -> None:
    audio = np.concatenate(
        [harmonic_tone(3.0), np.zeros(6 * RATE, np.float32), harmonic_tone(3.0, seed=1)]
    )
    windows = split_windows(audio, CONFIG)
    flags = [w.silent for w in windows]
    assert flags[0] is False and flags[-1] is False
    assert any(flags)  # the 6 s gap holds at least one all-silent window
    assert windows[-1].end_s == pytest.approx(len(audio) / RATE, abs=0.1)


def test_all_silent_recording_gives_silent_windows() -> None:
    windows = split_windows(np.zeros(5 * RATE, np.float32), CONFIG)
    assert windows and all(w.silent for w in windows)


def test_quiet_room_noise_is_not_taken_for_speech() -> None:
    rng = np.random.default_rng(0)
    noise = (10 ** (-80 / 20) * rng.standard_normal(4 * RATE)).astype(np.float32)  # -80 dBFS
    assert all(w.silent for w in split_windows(noise, CONFIG))


def test_quiet_but_real_speech_is_not_silence() -> None:
    # A quiet microphone: speech peaking near -50 dBFS must still be classified.
    quiet = harmonic_tone(2.0) * 10 ** (-44 / 20)  # harmonic_tone peaks at -6 dBFS
    windows = split_windows(quiet, CONFIG)
    assert windows and not any(w.silent for w in windows)


@pytest.mark.parametrize("seed", range(4))
def test_frame_power_is_bit_for_bit_the_plain_framed_mean(seed: int) -> None:
    from ser_features.features import frame_signal
    from ser_features.segmentation import TRIM_FRAME, TRIM_HOP, frame_power

    rng = np.random.default_rng(seed)
    lengths = [1, 2, 511, 512, 513, 1023, 1024, 1025, 16_000, *rng.integers(1, 120_000, 12)]
    for n in lengths:
        samples = (rng.normal(size=n) * rng.uniform(1e-4, 1.0)).astype(np.float32)
        plain = np.mean(
            np.square(frame_signal(samples, TRIM_FRAME, TRIM_HOP), dtype=np.float64), axis=1
        )
        # Equal, not close: trimming decides on these numbers, and training trimmed with them.
        np.testing.assert_array_equal(frame_power(samples), plain, err_msg=f"n = {n}")


@pytest.mark.parametrize("window_s, hop_s", [(3.0, 1.5), (1.0, 0.5), (2.0, 2.0)])
def test_max_windows_is_the_count_split_windows_cuts_from_untrimmed_audio(
    window_s: float, hop_s: float
) -> None:
    """Admission weighs a recording by this count from its header alone (issue 31)."""
    config = FeatureConfig(window_s=window_s, window_hop_s=hop_s)
    hop = round(hop_s * config.sample_rate)
    for duration in (0.01, window_s - 0.01, window_s, window_s + 1e-3, 7.3, 30.0, 600.0):
        n = round(duration * config.sample_rate)
        assert max_windows(duration, config) == len(window_starts(n, config.window_samples, hop))
    tone = harmonic_tone(7.3, rate=config.sample_rate)  # trimming can only lower the count
    assert len(split_windows(tone, config)) <= max_windows(7.3, config)
    assert len(split_windows(tone, config, trim=False)) == max_windows(7.3, config)
