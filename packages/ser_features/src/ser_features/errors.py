"""Why a recording cannot be turned into features: one exception class per reason.

Each class carries a short, stable ``reason`` code (metrics labels, the batch job's ``error``
column); the message is a sentence for the person who sent the file. Callers read
``error.reason`` instead of keeping their own class → code table.
"""

from __future__ import annotations


class AudioError(ValueError):
    """Base class for audio that cannot be turned into features; the message is for people."""

    reason: str = "invalid_audio"


class EmptyAudioError(AudioError):
    """The input holds no bytes or no samples."""

    reason = "empty"


class UndecodableAudioError(AudioError):
    """The bytes are not audio in a format libsndfile or FFmpeg (PyAV) can decode."""

    reason = "undecodable"


class UnsupportedSampleRateError(AudioError):
    """The sample rate is outside [MIN_SOURCE_RATE, MAX_SOURCE_RATE]."""

    reason = "sample_rate"


class NonFiniteAudioError(AudioError):
    """The audio contains NaN or infinite samples (float WAV only)."""

    reason = "non_finite"


class SilentAudioError(AudioError):
    """Every sample is (near) zero, or no window is above the silence level: nothing to classify."""

    reason = "silent"


class AudioTooLongError(AudioError):
    """The recording is longer, or would decode to more samples, than the caller's limit."""

    reason = "too_long"
