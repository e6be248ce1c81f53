"""Whisper's input features: the 80-band log-mel spectrogram, in numpy.

Same recipe as OpenAI Whisper's ``log_mel_spectrogram`` (periodic Hann window, centred STFT
with reflect padding, power spectrum, Slaney mel filters equal to
``librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)``, log10 floored at 80 dB below the
maximum, then scaled to about [-1, 1.5]) with two deliberate differences:

- the clip is never padded to 30 s: the encoder runs on the clip's own length, which measured
  as accurate for emotion at 1/15 of the cost (issue 18);
- the frame count is made even (the encoder's second convolution has stride 2), so every
  encoder step covers exactly two frames.

The tests compare against librosa, which this module does not import.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ser_features.errors import AudioError, AudioTooLongError
from ser_features.mel import mel_filterbank

SAMPLE_RATE = 16_000  # Hz: the only rate Whisper was trained on
N_FFT = 400  # samples: 25 ms analysis window
HOP_LENGTH = 160  # samples: 10 ms between frames, 100 frames per second
N_MELS = 80  # mel bands of the tiny/base/small encoders' first convolution
MAX_SECONDS = 30  # s: the encoder's context (1500 positions of 2 frames each)
MAX_SAMPLES = MAX_SECONDS * SAMPLE_RATE  # 480 000 samples → 3000 frames
ENCODER_STRIDE = 2  # frames per encoder position (stride of the second convolution)
MIN_SAMPLES = ENCODER_STRIDE * HOP_LENGTH  # 320 samples (20 ms): one encoder position
LOG_FLOOR = 1e-10  # mel power floor before log10 (-100 dB): keeps log10 finite on silence
DYNAMIC_RANGE = 8.0  # log10 units (80 dB) kept below the clip's loudest band and frame
LOG_OFFSET = 4.0  # (log10 + 4) / 4: Whisper's fixed scaling to about [-1, 1.5]
LOG_SCALE = 4.0


@cache
def whisper_mel_filters() -> np.ndarray:
    """Slaney-scale, area-normalised triangular filters from 0 Hz to 8 kHz.

    Returns
    -------
    np.ndarray, shape (N_MELS, N_FFT // 2 + 1) = (80, 201), float32, read-only
    """
    filters = mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2).astype(np.float32)
    filters.flags.writeable = False
    return filters


@cache
def _periodic_hann() -> np.ndarray:
    """Periodic Hann window (as torch.hann_window and scipy's fftbins=True), shape (N_FFT,)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    window.flags.writeable = False
    return window


def whisper_frame_count(n_samples: int) -> int:
    """Frames :func:`whisper_log_mel` returns for ``n_samples``: ``n_samples // HOP_LENGTH``
    (Whisper drops the STFT's last, centred-past-the-end frame), rounded down to even."""
    n_frames = n_samples // HOP_LENGTH
    return n_frames - n_frames % ENCODER_STRIDE


def whisper_log_mel(samples: np.ndarray) -> np.ndarray:
    """Whisper's log-mel spectrogram of one clip, without padding to 30 s.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,), float32, 16 kHz mono,
        MIN_SAMPLES (20 ms) <= n_samples <= MAX_SAMPLES (30 s)

    Returns
    -------
    np.ndarray, shape (N_MELS, n_frames) = (80, whisper_frame_count(n_samples)), float32;
    n_frames is even. Frame i is centred on sample i * HOP_LENGTH.

    Raises
    ------
    AudioTooLongError : more than 30 s (split longer recordings into windows first).
    AudioError : fewer than MIN_SAMPLES samples, or not one-dimensional.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise AudioError(f"expected mono samples of shape (n,), got shape {samples.shape}")
    if len(samples) > MAX_SAMPLES:
        raise AudioTooLongError(
            f"{len(samples) / SAMPLE_RATE:.2f} s is longer than the encoder's {MAX_SECONDS} s "
            "context: split the recording into windows of at most 30 s"
        )
    if len(samples) < MIN_SAMPLES:
        raise AudioError(
            f"{len(samples)} samples is shorter than one encoder step "
            f"({MIN_SAMPLES} samples, {1000 * MIN_SAMPLES // SAMPLE_RATE} ms)"
        )
    n_frames = whisper_frame_count(len(samples))
    # The FFT in float64: bands 80 dB below the loudest still count, and float32 rounding
    # (about 1e-7 of the peak bin) would move them by ~1e-4 after the log. The power is a sum
    # of positive terms from there on, so float32 loses nothing and makes the mel product 4x
    # faster.
    padded = np.pad(samples.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:n_frames]
    spectrum = np.fft.rfft(frames * _periodic_hann(), axis=-1)  # (n_frames, 201)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = whisper_mel_filters() @ power.T  # (80, n_frames)
    log_mel = np.log10(np.maximum(mel, np.float32(LOG_FLOOR)))
    log_mel = np.maximum(log_mel, log_mel.max() - np.float32(DYNAMIC_RANGE))
    return (log_mel + np.float32(LOG_OFFSET)) / np.float32(LOG_SCALE)
