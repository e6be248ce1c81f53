"""Decode an upload and reduce it to what the page draws: an envelope and a spectrogram.

Display only. Nothing here feeds the model; the API decodes and analyses the same bytes
with the shared feature code. A file this module cannot decode is still sent to the API,
whose ``detail`` then tells the person what is wrong with it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile

ENVELOPE_COLUMNS = 1_600  # min/max pairs drawn; about one per pixel of a wide figure
MAX_SPECTROGRAM_FRAMES = 1_200  # STFT columns; longer clips use a larger hop, not more columns
SPECTROGRAM_WINDOW_S = 0.032  # s; 32 ms resolves the pitch harmonics of speech
SPECTROGRAM_MAX_HZ = 8_000.0  # Hz; the band the model listens to and where speech lives
SPECTROGRAM_FLOOR_DB = -80.0  # dB below the loudest bin; quieter is drawn as the floor
# Pauses, for the timeline only (the API judges silence per window, and a 3-s window that
# holds a second of speech is answered whole): 50-ms frames quieter than the clip's loudest
# frame by PAUSE_BELOW_PEAK_DB, or than PAUSE_FLOOR_DBFS outright, in runs of at least
# PAUSE_MIN_S. Speech rarely falls 35 dB below its own peak for a quarter second; room
# noise between sentences does.
PAUSE_FRAME_S = 0.05  # s
PAUSE_BELOW_PEAK_DB = 35.0  # dB
PAUSE_FLOOR_DBFS = -70.0  # dBFS, the model's own silence level
PAUSE_MIN_S = 0.25  # s


class DisplayAudioError(ValueError):
    """The upload could not be decoded for drawing (the API may still explain why)."""


@dataclass(frozen=True)
class DisplayAudio:
    """A mono clip for drawing.

    Attributes
    ----------
    samples
        float32, shape (n_samples,), the channel mean, full scale ±1.
    sample_rate
        Hz.
    channels
        Channel count of the file before mixing to mono.
    """

    samples: np.ndarray
    sample_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Envelope:
    """Per-column minimum and maximum of a waveform, all arrays shape (n_columns,).

    ``times_s`` is each column's centre in seconds.
    """

    times_s: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Spectrogram:
    """Log-magnitude STFT.

    Attributes
    ----------
    times_s
        shape (n_frames,), frame centres in seconds.
    frequencies_hz
        shape (n_bins,), bin frequencies up to :data:`SPECTROGRAM_MAX_HZ`.
    power_db
        shape (n_bins, n_frames), dB relative to the loudest bin, floored at
        :data:`SPECTROGRAM_FLOOR_DB`.
    """

    times_s: np.ndarray
    frequencies_hz: np.ndarray
    power_db: np.ndarray


def decode_audio(content: bytes) -> DisplayAudio:
    """Decode WAV/FLAC/OGG bytes to a mono float32 clip.

    Raises
    ------
    DisplayAudioError
        If soundfile cannot read the bytes or they hold no samples.
    """
    try:
        samples, rate = soundfile.read(io.BytesIO(content), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise DisplayAudioError(f"cannot decode the audio for display: {error}") from error
    if samples.size == 0 or rate <= 0:
        raise DisplayAudioError("the file holds no audio samples")
    mono = samples.mean(axis=1, dtype=np.float32)
    # Non-finite samples (possible in float files) would break the drawing, not the truth.
    mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
    return DisplayAudio(samples=mono, sample_rate=int(rate), channels=samples.shape[1])


def waveform_envelope(audio: DisplayAudio, n_columns: int = ENVELOPE_COLUMNS) -> Envelope:
    """Reduce ``audio`` to at most ``n_columns`` min/max pairs.

    Plotting every sample of a 10-minute clip would take seconds and draw the same pixels;
    min/max per column keeps every peak visible.
    """
    samples = audio.samples
    n_samples = len(samples)
    if n_samples <= n_columns:
        times = np.arange(n_samples) / audio.sample_rate
        return Envelope(times_s=times, low=samples.copy(), high=samples.copy())
    per_column = n_samples // n_columns
    used = per_column * n_columns
    blocks = samples[:used].reshape(n_columns, per_column)
    times = (np.arange(n_columns) + 0.5) * per_column / audio.sample_rate
    return Envelope(times_s=times, low=blocks.min(axis=1), high=blocks.max(axis=1))


def pauses(audio: DisplayAudio) -> list[tuple[float, float]]:
    """(start_s, end_s) of the clip's pauses (rules: the ``PAUSE_*`` constants), in order."""
    frame = max(1, round(PAUSE_FRAME_S * audio.sample_rate))
    n_frames = len(audio.samples) // frame
    if n_frames == 0:
        return []
    blocks = audio.samples[: n_frames * frame].reshape(n_frames, frame).astype(np.float64)
    level_db = 10.0 * np.log10(np.mean(np.square(blocks), axis=1) + 1e-12)
    quiet = level_db < max(level_db.max() - PAUSE_BELOW_PEAK_DB, PAUSE_FLOOR_DBFS)
    # Runs of quiet frames: where the padded mask changes, runs start and end.
    edges = np.flatnonzero(np.diff(np.concatenate([[False], quiet, [False]]).astype(np.int8)))
    seconds_per_frame = frame / audio.sample_rate
    return [
        (float(start * seconds_per_frame), float(end * seconds_per_frame))
        for start, end in zip(edges[::2], edges[1::2], strict=True)
        if (end - start) * seconds_per_frame >= PAUSE_MIN_S
    ]


def spectrogram(audio: DisplayAudio) -> Spectrogram:
    """Hann-windowed STFT magnitude in dB, at most :data:`MAX_SPECTROGRAM_FRAMES` frames.

    Frames hop by a quarter window for short clips and further apart for long ones, so the
    cost stays bounded whatever the duration.
    """
    samples = audio.samples
    rate = audio.sample_rate
    n_fft = 1 << max(6, int(np.ceil(np.log2(SPECTROGRAM_WINDOW_S * rate))))
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    n_possible = len(samples) - n_fft
    hop = max(n_fft // 4, int(np.ceil(n_possible / max(MAX_SPECTROGRAM_FRAMES - 1, 1))))
    starts = np.arange(0, n_possible + 1, hop)
    frames = samples[starts[:, None] + np.arange(n_fft)[None, :]]
    magnitude = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))
    frequencies = np.fft.rfftfreq(n_fft, d=1.0 / rate)
    keep = frequencies <= min(SPECTROGRAM_MAX_HZ, rate / 2)
    power_db = 20.0 * np.log10(np.maximum(magnitude[:, keep].T, 1e-10))
    power_db = np.maximum(power_db - power_db.max(), SPECTROGRAM_FLOOR_DB)
    times = (starts + n_fft / 2) / rate
    return Spectrogram(times_s=times, frequencies_hz=frequencies[keep], power_db=power_db)
