"""Audio decoding: any supported container/rate/channel layout → mono float32 at 16 kHz.

Training and serving both call :func:`load_audio`, so a file decodes to the same samples
whichever side reads it. Decoding is done by libsndfile (through ``soundfile``), which
recognises the container from the bytes, not the file name: AIFF content behind a ``.wav``
name (two TESS files are like that) decodes correctly.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

# Hard-coded audio constants (units in the names or comments).
SAMPLE_RATE = 16_000  # Hz: the canonical rate every feature is computed at
MIN_SOURCE_RATE = 4_000  # Hz: below this there is no speech band left to analyse
MAX_SOURCE_RATE = 192_000  # Hz: highest rate of any common recorder / interface
SILENCE_PEAK = 1e-4  # linear full scale (-80 dBFS): a peak below this is digital silence

AudioSource = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


class AudioError(ValueError):
    """Base class for audio that cannot be turned into features; the message is for people."""


class EmptyAudioError(AudioError):
    """The input holds no bytes or no samples."""


class UndecodableAudioError(AudioError):
    """The bytes are not audio in a supported format (WAV, FLAC, OGG/Vorbis, AIFF, …)."""


class UnsupportedSampleRateError(AudioError):
    """The sample rate is outside [MIN_SOURCE_RATE, MAX_SOURCE_RATE]."""


class NonFiniteAudioError(AudioError):
    """The audio contains NaN or infinite samples (float WAV only)."""


class SilentAudioError(AudioError):
    """Every sample is (near) zero: there is no speech to classify."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the container header says, read without decoding the samples."""

    sample_rate: int  # Hz
    channels: int
    frames: int  # samples per channel
    format: str  # e.g. "WAV", "FLAC", "OGG", "AIFF"
    subtype: str  # e.g. "PCM_16", "FLOAT", "VORBIS"

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, slots=True)
class LoadedAudio:
    """Decoded audio at the canonical rate, plus what the source was."""

    samples: np.ndarray  # shape (n_samples,), float32, mono, SAMPLE_RATE Hz, in [-1, 1] nominal
    source_sample_rate: int  # Hz, as stored in the file
    source_channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _as_file(source: AudioSource) -> str | os.PathLike[str] | BinaryIO:
    """Turn bytes into a seekable file object; pass paths and file objects through."""
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise EmptyAudioError("the audio is empty (0 bytes)")
        return io.BytesIO(bytes(source))
    return source


def read_audio_info(source: AudioSource) -> AudioInfo:
    """Read the container header only, e.g. to refuse a 10-hour file before decoding it.

    Raises
    ------
    EmptyAudioError, UndecodableAudioError
    """
    handle = _as_file(source)
    try:
        info = soundfile.info(handle)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise UndecodableAudioError(
            "could not read the audio: it is not WAV, FLAC, OGG/Vorbis or AIFF, or it is damaged"
        ) from error
    finally:
        if isinstance(handle, io.BytesIO):
            handle.seek(0)
    return AudioInfo(
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        format=str(info.format),
        subtype=str(info.subtype),
    )


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (soxr, high quality).

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,), float32
    source_rate, target_rate : int, Hz

    Returns
    -------
    np.ndarray, shape (round(n_samples * target_rate / source_rate),), float32
    """
    if source_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(
        np.float32, copy=False
    )


def load_audio(
    source: AudioSource, target_rate: int = SAMPLE_RATE, *, allow_silent: bool = False
) -> LoadedAudio:
    """Decode audio from bytes, a path or a file object to mono float32 at ``target_rate``.

    Channels are averaged; integer PCM of any width is scaled to [-1, 1]; float audio is kept
    as is (values beyond ±1, i.e. clipping headroom, are preserved, not clipped).

    Parameters
    ----------
    source : bytes, path or binary file object
        WAV (8/16/24/32-bit PCM, 32/64-bit float), FLAC, OGG/Vorbis or AIFF.
    target_rate : int, Hz
    allow_silent : bool
        When False, all-silent audio raises :class:`SilentAudioError`.

    Returns
    -------
    LoadedAudio
        ``samples`` has shape (n_samples,) and dtype float32.

    Raises
    ------
    EmptyAudioError, UndecodableAudioError, UnsupportedSampleRateError,
    NonFiniteAudioError, SilentAudioError
    """
    handle = _as_file(source)
    try:
        data, rate = soundfile.read(handle, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise UndecodableAudioError(
            "could not decode the audio: it is not WAV, FLAC, OGG/Vorbis or AIFF, or it is damaged"
        ) from error
    if data.shape[0] == 0:
        raise EmptyAudioError("the audio contains no samples")
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise UnsupportedSampleRateError(
            f"sample rate {rate} Hz is not supported "
            f"(expected {MIN_SOURCE_RATE}–{MAX_SOURCE_RATE} Hz)"
        )
    channels = data.shape[1]
    # Checked before mixing: NaN in one channel would silently poison the average.
    if not np.isfinite(data).all():
        raise NonFiniteAudioError("the audio contains NaN or infinite sample values")
    mono = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0]
    samples = resample(np.ascontiguousarray(mono), int(rate), target_rate)
    if not allow_silent and (samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK):
        raise SilentAudioError("the audio is silent: every sample is below -80 dBFS")
    return LoadedAudio(samples=samples, source_sample_rate=int(rate), source_channels=channels)
