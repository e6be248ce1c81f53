"""Audio decoding: any supported container/rate/channel layout → mono float32 at 16 kHz.

Training and serving both call :func:`load_audio`, so a file decodes to the same samples
whichever side reads it. libsndfile (through ``soundfile``) decodes what it reads (WAV, FLAC,
OGG/Vorbis, AIFF, MP3, …) and recognises the container from the bytes, not the file name: AIFF
content behind a ``.wav`` name (two TESS files are like that) decodes correctly. What libsndfile
refuses (M4A/AAC, WebM/Opus, video files with an audio track, …) goes to FFmpeg through PyAV
(:mod:`ser_features.ffmpeg`), under the same limits.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from ser_features import ffmpeg
from ser_features.errors import (
    AudioError,
    AudioTooLongError,
    EmptyAudioError,
    NonFiniteAudioError,
    SilentAudioError,
    UndecodableAudioError,
    UnsupportedSampleRateError,
)
from ser_features.silence import check_not_digital_silence

# Hard-coded audio constants (units in the names or comments).
SAMPLE_RATE = 16_000  # Hz: the canonical rate every feature is computed at
# soxr's quality for every resampling to SAMPLE_RATE: uploads here, live streams in ser_api.pcm
# (whose chunked resampler then equals this one-shot call, which their parity rests on).
RESAMPLE_QUALITY = "HQ"
MIN_SOURCE_RATE = 4_000  # Hz: below this there is no speech band left to analyse
MAX_SOURCE_RATE = 192_000  # Hz: highest rate of any common recorder / interface
# float32 values a decoded file may hold before resampling: 10 minutes of 96 kHz stereo
# (115 M values, 460 MB) fits; a file that would inflate to gigabytes is refused.
MAX_DECODED_VALUES = 128 * 1024 * 1024
# File name extensions a folder scan treats as audio: what libsndfile or FFmpeg decodes.
# Decoding never trusts them (the bytes decide); they only pick files out of a folder.
# The same extensions as ser_contract.formats, which the web app offers (tests/contract
# holds them equal; this package does not depend on the contract's pydantic).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".mp3", ".m4a", ".aac",
     ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".mka", ".wma", ".avi", ".3gp", ".amr"}
)  # fmt: skip

AudioSource = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO

__all__ = [
    "AUDIO_EXTENSIONS",
    "MAX_DECODED_VALUES",
    "SAMPLE_RATE",
    "AudioError",
    "AudioInfo",
    "AudioSource",
    "AudioTooLongError",
    "EmptyAudioError",
    "LoadedAudio",
    "NonFiniteAudioError",
    "SilentAudioError",
    "UndecodableAudioError",
    "UnsupportedSampleRateError",
    "check_decoded_size",
    "load_audio",
    "read_audio_info",
    "resample",
]

_UNREADABLE = (soundfile.LibsndfileError, RuntimeError, TypeError)


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
    if isinstance(source, str | os.PathLike):
        try:
            empty = os.stat(source).st_size == 0
        except OSError:
            empty = False  # missing or unreadable: the decoder says so in its own words
        if empty:
            raise EmptyAudioError("the audio is empty (0 bytes)")
    return source


def read_audio_info(
    source: AudioSource, *, max_decoded_values: int = MAX_DECODED_VALUES
) -> AudioInfo:
    """Read the container header only, e.g. to refuse a 10-hour file before decoding it.

    libsndfile first; what it refuses is probed by FFmpeg (PyAV). A container whose header
    has no duration (WebM from a browser) is decoded to count its frames, stopping past
    ``max_decoded_values`` (frames × channels).

    Raises
    ------
    EmptyAudioError, UndecodableAudioError, AudioTooLongError
    """
    handle = _as_file(source)
    try:
        info = soundfile.info(handle)
    except _UNREADABLE:
        stream = ffmpeg.probe(handle, max_decoded_values)
        return AudioInfo(
            sample_rate=stream.sample_rate,
            channels=stream.channels,
            frames=stream.frames,
            format=stream.format,
            subtype=stream.codec,
        )
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


def _too_many_values(frames: int, channels: int, limit: int) -> AudioTooLongError:
    return AudioTooLongError(
        f"the recording has {frames} frames × {channels} channels, more than the "
        f"{limit} samples this service decodes at once — cut it into shorter parts"
    )


def check_decoded_size(info: AudioInfo, max_decoded_values: int = MAX_DECODED_VALUES) -> None:
    """Refuse, from the header, a recording that would decode to more than the limit.

    Raises
    ------
    AudioTooLongError
    """
    if info.frames * info.channels > max_decoded_values:
        raise _too_many_values(info.frames, info.channels, max_decoded_values)


def _decode(handle: str | os.PathLike[str] | BinaryIO, max_values: int) -> tuple[np.ndarray, int]:
    """(samples of shape (n, channels), float32; rate in Hz): libsndfile, else FFmpeg."""
    try:
        with soundfile.SoundFile(handle) as sound:
            if sound.frames * sound.channels > max_values:
                raise _too_many_values(sound.frames, sound.channels, max_values)
            return sound.read(dtype="float32", always_2d=True), int(sound.samplerate)
    except _UNREADABLE:
        return ffmpeg.decode(handle, max_values)


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
    return soxr.resample(samples, source_rate, target_rate, quality=RESAMPLE_QUALITY).astype(
        np.float32, copy=False
    )


def load_audio(
    source: AudioSource,
    target_rate: int = SAMPLE_RATE,
    *,
    allow_silent: bool = False,
    max_decoded_values: int = MAX_DECODED_VALUES,
) -> LoadedAudio:
    """Decode audio from bytes, a path or a file object to mono float32 at ``target_rate``.

    Channels are averaged; integer PCM of any width is scaled to [-1, 1]; float audio is kept
    as is (values beyond ±1, i.e. clipping headroom, are preserved, not clipped).

    Parameters
    ----------
    source : bytes, path or binary file object
        WAV (8/16/24/32-bit PCM, 32/64-bit float), FLAC, OGG, AIFF, MP3 (libsndfile);
        M4A/AAC, WebM/Opus, video with an audio track, … (FFmpeg).
    target_rate : int, Hz
    allow_silent : bool
        When False, all-silent audio raises :class:`SilentAudioError`.
    max_decoded_values : int
        frames × channels a file may decode to (decompression-bomb guard), checked from the
        header and, for FFmpeg, again while decoding.

    Returns
    -------
    LoadedAudio
        ``samples`` has shape (n_samples,) and dtype float32.

    Raises
    ------
    EmptyAudioError, UndecodableAudioError, UnsupportedSampleRateError,
    NonFiniteAudioError, SilentAudioError, AudioTooLongError
    """
    data, rate = _decode(_as_file(source), max_decoded_values)
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
    if not allow_silent:
        check_not_digital_silence(samples)
    return LoadedAudio(samples=samples, source_sample_rate=int(rate), source_channels=channels)
