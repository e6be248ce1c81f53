"""Waveform augmentation and degradations that mimic real recording conditions.

Used twice: randomly, on training files only (after the split), and with fixed settings by
the robustness evaluation. All functions take and return float32 mono at 16 kHz.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile
from scipy import signal

from ser_features import SAMPLE_RATE, resample

TELEPHONE_BAND_HZ = (300.0, 3_400.0)
TELEPHONE_RATE = 8_000  # Hz


def add_noise(
    samples: np.ndarray, snr_db: float, rng: np.random.Generator, colour: str = "white"
) -> np.ndarray:
    """Add white or pink noise at ``snr_db`` relative to the signal's mean power."""
    noise = rng.standard_normal(len(samples)).astype(np.float32)
    if colour == "pink":  # 1/f spectrum: shape white noise in the frequency domain
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, n=len(samples)).astype(np.float32)
    signal_power = float(np.mean(samples.astype(np.float64) ** 2)) + 1e-12
    noise_power = float(np.mean(noise.astype(np.float64) ** 2)) + 1e-12
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (samples + scale * noise).astype(np.float32)


def apply_gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by ``gain_db`` and clip to [-1, 1] as a real converter would."""
    return np.clip(samples * np.float32(10 ** (gain_db / 20)), -1.0, 1.0).astype(np.float32)


def change_speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (pitch and tempo together), by resampling."""
    return resample(samples, round(SAMPLE_RATE * factor), SAMPLE_RATE)


def telephone(samples: np.ndarray) -> np.ndarray:
    """Narrow-band telephone channel: 8 kHz sampling and a 300–3400 Hz band-pass."""
    narrow = resample(samples, SAMPLE_RATE, TELEPHONE_RATE)
    sos = signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_RATE, output="sos")
    narrow = signal.sosfilt(sos, narrow).astype(np.float32)
    return resample(narrow, TELEPHONE_RATE, SAMPLE_RATE)[: len(samples)]


def synthetic_impulse_response(rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying noise: a room whose level falls 60 dB in ``rt60_s`` seconds."""
    length = int(rt60_s * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    response = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078
    response[0] = 1.0  # the direct path
    return (response / np.sqrt(np.sum(response**2))).astype(np.float32)


def reverberate(
    samples: np.ndarray, rt60_s: float, rng: np.random.Generator, wet: float = 0.5
) -> np.ndarray:
    """Convolve with a synthetic room; ``wet`` is the reverberant share of the mix."""
    room = signal.fftconvolve(samples, synthetic_impulse_response(rt60_s, rng))[: len(samples)]
    mixed = (1 - wet) * samples + wet * room.astype(np.float32)
    peak_in, peak_out = np.max(np.abs(samples)), np.max(np.abs(mixed)) + 1e-9
    return (mixed * (peak_in / peak_out)).astype(np.float32)


def ogg_round_trip(samples: np.ndarray, quality: float = 0.1) -> np.ndarray:
    """Encode as OGG/Vorbis at low quality (0 worst … 1 best) and decode again."""
    buffer = io.BytesIO()
    soundfile.write(
        buffer, samples, SAMPLE_RATE, format="OGG", subtype="VORBIS",
        compression_level=1.0 - quality,
    )  # fmt: skip
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    return (
        decoded[: len(samples)]
        if len(decoded) >= len(samples)
        else np.pad(decoded, (0, len(samples) - len(decoded)))
    )


@dataclass(frozen=True)
class AugmentationPolicy:
    """Probabilities and ranges of the random training-time chain."""

    p_speed: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    p_reverb: float = 0.3
    rt60_range_s: tuple[float, float] = (0.2, 0.8)
    p_telephone: float = 0.15
    p_codec: float = 0.1
    p_noise: float = 0.6
    snr_range_db: tuple[float, float] = (5.0, 30.0)
    p_gain: float = 0.5
    gain_range_db: tuple[float, float] = (-20.0, 6.0)


def random_augmentation(
    samples: np.ndarray, rng: np.random.Generator, policy: AugmentationPolicy = AugmentationPolicy()
) -> np.ndarray:
    """One random chain of degradations (each step applied with its probability)."""
    x = samples
    if rng.random() < policy.p_speed:
        x = change_speed(x, float(rng.uniform(*policy.speed_range)))
    if rng.random() < policy.p_reverb:
        x = reverberate(
            x, float(rng.uniform(*policy.rt60_range_s)), rng, wet=float(rng.uniform(0.2, 0.7))
        )
    if rng.random() < policy.p_telephone:
        x = telephone(x)
    if rng.random() < policy.p_codec:
        x = ogg_round_trip(x, quality=float(rng.uniform(0.0, 0.3)))
    if rng.random() < policy.p_noise:
        colour = "pink" if rng.random() < 0.5 else "white"
        x = add_noise(x, float(rng.uniform(*policy.snr_range_db)), rng, colour)
    if rng.random() < policy.p_gain:
        x = apply_gain(x, float(rng.uniform(*policy.gain_range_db)))
    return x.astype(np.float32, copy=False)


# Fixed degradations for the robustness table (name → function of (samples, rng)).
ROBUSTNESS_CONDITIONS = {
    "noise 20 dB SNR": lambda x, rng: add_noise(x, 20.0, rng),
    "noise 10 dB SNR": lambda x, rng: add_noise(x, 10.0, rng),
    "noise 5 dB SNR": lambda x, rng: add_noise(x, 5.0, rng),
    "gain +6 dB": lambda x, rng: apply_gain(x, 6.0),
    "gain -6 dB": lambda x, rng: apply_gain(x, -6.0),
    "gain +20 dB (clipping)": lambda x, rng: apply_gain(x, 20.0),
    "gain -20 dB": lambda x, rng: apply_gain(x, -20.0),
    "telephone 8 kHz band": lambda x, rng: telephone(x),
    "OGG/Vorbis round trip": lambda x, rng: ogg_round_trip(x, quality=0.1),
    "reverberation RT60 0.5 s": lambda x, rng: reverberate(x, 0.5, rng, wet=0.5),
}
