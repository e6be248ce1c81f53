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


# (container, codec, sample rate in Hz) for each format people have that libsndfile may refuse.
# Encoded with PyAV (FFmpeg) at test time, so no sample file is stored in the repository.
ENCODED_FORMATS = {
    "mp3": ("mp3", "libmp3lame", 44_100),
    "m4a": ("ipod", "aac", 44_100),
    "webm": ("webm", "libopus", 48_000),
    "mp4": ("mp4", "aac", 48_000),  # a video file's audio track (audio-only stream here)
}


ENCODED_BIT_RATE = 96_000  # bit/s: transparent enough that the decoded signal matches the input


class _Unseekable(io.RawIOBase):
    """A write-only stream the muxer cannot seek back in, like a browser's MediaRecorder."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:
        self.data += bytes(chunk)
        return len(chunk)


def encoded_bytes(
    samples: np.ndarray, kind: str, rate: int | None = None, *, streamed: bool = False
) -> bytes:
    """``samples`` (shape (n,), float32 at ``rate`` Hz) encoded as ``kind`` of ENCODED_FORMATS.

    ``streamed``: written to a stream without seeking, so the header has no duration (what a
    browser's MediaRecorder produces for WebM).
    """
    import av  # test-only import: PyAV is a ser_features dependency

    container_format, codec, default_rate = ENCODED_FORMATS[kind]
    rate = rate or default_rate
    buffer = _Unseekable() if streamed else io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = ENCODED_BIT_RATE
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size].astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk[np.newaxis, :], format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return bytes(buffer.data) if streamed else buffer.getvalue()
