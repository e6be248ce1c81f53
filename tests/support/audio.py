"""Synthesised test audio: speech-like signals without any corpus file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 16_000  # Hz


def harmonic_tone(
    duration_s: float = 1.5, rate: int = SAMPLE_RATE, f0_hz: float = 140.0, seed: int = 0
) -> np.ndarray:
    """A vowel-like harmonic tone with a slow pitch glide, vibrato and a little noise.

    Returns
    -------
    np.ndarray, shape (round(duration_s * rate),), float32, peak about 0.5
    """
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_s * rate)) / rate
    f0 = f0_hz * (1 + 0.1 * t / max(duration_s, 1e-3)) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    signal = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)  # 50 ms fade in/out
    signal = envelope * signal + 0.01 * rng.standard_normal(len(t))
    return (0.5 * signal / np.max(np.abs(signal))).astype(np.float32)


def wav_bytes(
    samples: np.ndarray, rate: int = SAMPLE_RATE, subtype: str = "PCM_16", fmt: str = "WAV"
) -> bytes:
    """Encode ``samples`` (shape (n,) or (n, channels)) with soundfile."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def write_audio(
    path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE, subtype: str = "PCM_16"
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, rate, subtype=subtype)
    return path
