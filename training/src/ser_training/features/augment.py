"""Waveform augmentation and degradations that mimic real recording conditions.

Used twice: randomly, on training files only (after the split), and with fixed settings by
the robustness evaluation. All functions take and return float32 mono at 16 kHz.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

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


def peaking_filter(samples: np.ndarray, centre_hz: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking-EQ biquad (RBJ cookbook): ``gain_db`` at ``centre_hz``, width ``q``."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * centre_hz / SAMPLE_RATE
    alpha = np.sin(omega) / (2 * q)
    b = [1 + alpha * amplitude, -2 * np.cos(omega), 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * np.cos(omega), 1 - alpha / amplitude]
    return signal.lfilter(b, a, samples).astype(np.float32)


def random_microphone(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random microphone/room colouring: a band limit and a few EQ bumps and dips.

    Cheap microphones cut the low end (high-pass 50–300 Hz) and the top (low-pass 3.5–7.5
    kHz) and are far from flat in between (±10 dB resonances); the level is kept.
    """
    x = samples
    low_cut = float(rng.uniform(50.0, 300.0))
    high_cut = float(rng.uniform(3_500.0, 7_500.0))
    sos = signal.butter(2, (low_cut, high_cut), btype="bandpass", fs=SAMPLE_RATE, output="sos")
    x = signal.sosfilt(sos, x).astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        centre = float(np.exp(rng.uniform(np.log(150.0), np.log(6_000.0))))
        x = peaking_filter(x, centre, float(rng.uniform(-10.0, 10.0)), float(rng.uniform(0.7, 2.5)))
    peak_in, peak_out = np.max(np.abs(samples)), np.max(np.abs(x)) + 1e-9
    return (x * (peak_in / peak_out)).astype(np.float32)


@dataclass(frozen=True)
class AugmentationPolicy:
    """Probabilities and ranges of the random training-time chain.

    Speed perturbation moves pitch and formants together (vocal-tract length and F0), the
    usual cheap stand-in for a new speaker; the rest imitate rooms, channels and microphones.
    """

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
    p_microphone: float = 0.0  # random band limit + EQ (random_microphone); 0 in "default"

    def cache_key(self) -> str:
        """What the feature cache keys augmented copies by. Fields added later are left out
        while they are off, so copies made before they existed stay valid."""
        fields = asdict(self)
        if fields["p_microphone"] == 0.0:
            del fields["p_microphone"]
        return str(sorted(fields.items()))


# Named policies for JobConfig.augmentation. "channel" aims at new microphones and rooms: wider
# speed range, more reverberation and band limits, random microphone EQ, noise at any SNR.
AUGMENTATION_POLICIES = {
    "default": AugmentationPolicy(),
    "channel": AugmentationPolicy(
        p_speed=0.6, speed_range=(0.85, 1.15), p_reverb=0.4, rt60_range_s=(0.2, 1.0),
        p_telephone=0.2, p_codec=0.2, p_noise=0.7, snr_range_db=(0.0, 30.0),
        p_microphone=0.6,
    ),
}  # fmt: skip


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
    # Drawn last and only when enabled, so the "default" chain's random draws are unchanged.
    if policy.p_microphone > 0 and rng.random() < policy.p_microphone:
        x = random_microphone(x, rng)
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
