"""Degradations do what their names say, and keep length and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from ser_training.features.augment import (
    ROBUSTNESS_CONDITIONS,
    AugmentationPolicy,
    add_noise,
    apply_gain,
    change_speed,
    random_augmentation,
    telephone,
)
from tests.support.audio import harmonic_tone

TONE = harmonic_tone(2.0)


@pytest.mark.parametrize("snr_db", [20.0, 10.0, 5.0])
def test_noise_is_added_at_the_requested_snr(snr_db: float) -> None:
    noisy = add_noise(TONE, snr_db, np.random.default_rng(0))
    noise = noisy - TONE
    measured = 10 * np.log10(
        np.mean(TONE.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2)
    )
    assert measured == pytest.approx(snr_db, abs=0.1)


def test_gain_scales_and_clips() -> None:
    assert np.max(np.abs(apply_gain(TONE, -20.0))) == pytest.approx(0.05, rel=1e-3)
    assert np.max(np.abs(apply_gain(TONE, 20.0))) == 1.0


def test_speed_change_changes_duration() -> None:
    assert len(change_speed(TONE, 1.25)) == pytest.approx(len(TONE) / 1.25, abs=2)


def test_telephone_removes_energy_above_the_band() -> None:
    rng = np.random.default_rng(1)
    white = rng.standard_normal(32_000).astype(np.float32) * 0.1
    spectrum = np.abs(np.fft.rfft(telephone(white))) ** 2
    frequencies = np.fft.rfftfreq(32_000, 1 / 16_000)
    assert spectrum[frequencies > 4_200].sum() < 1e-3 * spectrum.sum()


@pytest.mark.parametrize("condition", list(ROBUSTNESS_CONDITIONS))
def test_every_robustness_condition_keeps_length_and_dtype(condition: str) -> None:
    out = ROBUSTNESS_CONDITIONS[condition](TONE, np.random.default_rng(0))
    assert out.shape == TONE.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_random_augmentation_is_reproducible_from_its_seed() -> None:
    a = random_augmentation(TONE, np.random.default_rng(5), AugmentationPolicy())
    b = random_augmentation(TONE, np.random.default_rng(5), AugmentationPolicy())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random_augmentation(TONE, np.random.default_rng(6)))


def test_microphone_colouring_keeps_length_peak_and_changes_the_spectrum() -> None:
    from ser_training.features.augment import random_microphone

    coloured = random_microphone(TONE, np.random.default_rng(3))
    assert coloured.shape == TONE.shape and coloured.dtype == np.float32
    assert np.max(np.abs(coloured)) == pytest.approx(np.max(np.abs(TONE)), rel=1e-4)
    assert not np.allclose(coloured, TONE, atol=1e-3)


def test_peaking_filter_boosts_its_centre_frequency() -> None:
    from ser_training.features.augment import peaking_filter

    t = np.arange(16_000) / 16_000
    sine = np.sin(2 * np.pi * 1_000 * t).astype(np.float32)
    boosted = peaking_filter(sine, 1_000.0, 6.0, 1.0)[4_000:]
    gain_db = 20 * np.log10(np.std(boosted) / np.std(sine[4_000:]))
    assert gain_db == pytest.approx(6.0, abs=0.3)


def test_the_default_policy_draws_exactly_as_before_the_microphone_step() -> None:
    # p_microphone = 0 must not consume random numbers, so cached copies stay valid.
    from ser_training.features.augment import AUGMENTATION_POLICIES

    a = random_augmentation(TONE, np.random.default_rng(5), AugmentationPolicy())
    b = random_augmentation(TONE, np.random.default_rng(5), AUGMENTATION_POLICIES["default"])
    np.testing.assert_array_equal(a, b)
    assert "p_microphone" not in AugmentationPolicy().cache_key()
    assert "p_microphone" in AUGMENTATION_POLICIES["channel"].cache_key()
