"""Raw PCM frames of a live stream → float32 samples at the model's rate.

The stream's client says once (query ``encoding``, ``sample_rate``) what every binary frame
holds: mono little-endian 16-bit integers or 32-bit floats. Frames may be any size, and a
sample never spans two frames. Resampling is soxr's streaming resampler with the quality
``ser_features.resample`` uses for uploads (``RESAMPLE_QUALITY``): fed in pieces it returns the same samples as the
one-shot call on the whole signal (checked in tests/api), so a streamed recording is
resampled exactly as its upload would be; it holds back a few milliseconds of output
(the filter's delay) until more input or :meth:`PcmDecoder.flush`.
"""

from __future__ import annotations

import numpy as np
import soxr

from ser_contract.stream import BYTES_PER_SAMPLE, ENCODINGS, MAX_STREAM_RATE, MIN_STREAM_RATE
from ser_features.audio import RESAMPLE_QUALITY

INT16_SCALE = 32768.0  # full scale of 16-bit PCM, as libsndfile reads it (int16 / 2**15)
_DTYPES = {"pcm_s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


class PcmFormatError(ValueError):
    """The stream's declared format is not one this service reads."""


class MalformedFrameError(ValueError):
    """A frame cannot be what the stream declared (odd byte count, NaN, …)."""


def check_format(encoding: str, sample_rate: str | int) -> tuple[str, int]:
    """``(encoding, rate in Hz)``, or :class:`PcmFormatError` saying what is accepted."""
    if encoding not in ENCODINGS:
        raise PcmFormatError(
            f"encoding '{encoding[:32]}' is not supported; use one of {', '.join(ENCODINGS)}"
        )
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError):
        raise PcmFormatError(f"sample_rate '{str(sample_rate)[:32]}' is not a number") from None
    if not MIN_STREAM_RATE <= rate <= MAX_STREAM_RATE:
        raise PcmFormatError(
            f"sample_rate {rate} Hz is not supported; send {MIN_STREAM_RATE}–{MAX_STREAM_RATE} Hz"
        )
    return encoding, rate


class PcmDecoder:
    """Decode one stream's frames and resample them to ``target_rate``.

    Parameters
    ----------
    encoding : one of ``ser_contract.stream.ENCODINGS``
    source_rate : Hz, the client's rate (8–48 kHz; the query's text is accepted)
    target_rate : Hz, the model's rate
    """

    def __init__(self, encoding: str, source_rate: int | str, target_rate: int) -> None:
        self.encoding, self.source_rate = check_format(encoding, source_rate)
        self.target_rate = target_rate
        self.bytes_per_sample = BYTES_PER_SAMPLE[encoding]
        self.samples_in = 0  # source samples decoded so far
        self._resampler = (
            None
            if self.source_rate == target_rate
            else soxr.ResampleStream(
                self.source_rate, target_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
            )
        )

    @property
    def seconds_in(self) -> float:
        """Seconds of audio received (at the client's rate)."""
        return self.samples_in / self.source_rate

    def samples_of(self, n_bytes: int) -> int:
        """How many samples a frame of ``n_bytes`` holds (whole samples only)."""
        return n_bytes // self.bytes_per_sample

    def decode(self, frame: bytes) -> np.ndarray:
        """One binary frame → samples at ``target_rate``, shape (n,), float32.

        Raises
        ------
        MalformedFrameError
            A byte count that is not a whole number of samples, or non-finite floats.
        """
        if len(frame) % self.bytes_per_sample:
            raise MalformedFrameError(
                f"a frame of {len(frame)} bytes is not a whole number of {self.encoding} "
                f"samples ({self.bytes_per_sample} bytes each)"
            )
        raw = np.frombuffer(frame, dtype=_DTYPES[self.encoding])
        if self.encoding == "pcm_s16le":
            samples = raw.astype(np.float32) / np.float32(INT16_SCALE)
        else:
            samples = raw.astype(np.float32)
            if not np.isfinite(samples).all():
                raise MalformedFrameError("the frame contains NaN or infinite sample values")
        self.samples_in += len(samples)
        if self._resampler is None:
            return samples
        return self._resampler.resample_chunk(samples, last=False)

    def flush(self) -> np.ndarray:
        """The resampler's held-back tail (end of stream), shape (n,), float32."""
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        return self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
