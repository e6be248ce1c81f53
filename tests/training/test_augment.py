"""Degradations do what their names say, and keep length and dtype."""

from __future__ import annotations

import numpy as np
import pytest

from ser_training.augment import (
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
