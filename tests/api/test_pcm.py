"""Raw stream frames decode to the samples an upload of the same audio decodes to
(ser_api.pcm)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from ser_api.pcm import MalformedFrameError, PcmDecoder, PcmFormatError, check_format
from ser_features import resample
from tests.support.audio import harmonic_tone, wav_bytes


def frames(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(data[at : at + size])
        at += size
    return [*out, data[at:]]


def test_s16_frames_decode_as_libsndfile_reads_the_wav() -> None:
    wav = wav_bytes(harmonic_tone(1.0, seed=2))
    expected, _ = soundfile.read(io.BytesIO(wav), dtype="float32")
    pcm = soundfile.read(io.BytesIO(wav), dtype="int16")[0].astype("<i2").tobytes()
    decoder = PcmDecoder("pcm_s16le", 16_000, 16_000)
    got = np.concatenate([decoder.decode(f) for f in frames(pcm, [2, 0, 998, 5000, 2])])
    np.testing.assert_array_equal(got, expected)
    assert decoder.seconds_in == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_resampling_in_pieces_equals_resampling_the_whole(rate: int) -> None:
    signal = harmonic_tone(2.0, rate=rate, seed=1)
    decoder = PcmDecoder("f32le", rate, 16_000)
    raw = signal.astype("<f4").tobytes()
    rng = np.random.default_rng(rate)
    sizes = [4 * int(n) for n in rng.integers(0, 3000, size=40)]
    got = np.concatenate([*(decoder.decode(f) for f in frames(raw, sizes)), decoder.flush()])
    np.testing.assert_array_equal(got, resample(signal, rate, 16_000))


@pytest.mark.parametrize(
    ("encoding", "rate", "message"),
    [
        ("mp3", 16_000, "encoding 'mp3' is not supported"),
        ("pcm_s16le", 96_000, "96000 Hz is not supported"),
        ("pcm_s16le", 7_999, "7999 Hz is not supported"),
        ("f32le", "fast", "'fast' is not a number"),
    ],
)
def test_formats_outside_the_contract_are_refused(encoding: str, rate, message: str) -> None:
    with pytest.raises(PcmFormatError, match=message):
        check_format(encoding, rate)


def test_a_frame_that_is_not_whole_samples_or_not_finite_is_malformed() -> None:
    with pytest.raises(MalformedFrameError, match="3 bytes"):
        PcmDecoder("pcm_s16le", 16_000, 16_000).decode(b"\x00\x01\x02")
    with pytest.raises(MalformedFrameError, match="6 bytes"):
        PcmDecoder("f32le", 16_000, 16_000).decode(b"\x00" * 6)
    nan = np.array([0.1, np.nan], dtype="<f4").tobytes()
    with pytest.raises(MalformedFrameError, match="NaN"):
        PcmDecoder("f32le", 16_000, 16_000).decode(nan)
