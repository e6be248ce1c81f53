"""load_audio: every supported container, rate and layout decodes to the same mono 16 kHz."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from ser_features import (
    SAMPLE_RATE,
    EmptyAudioError,
    NonFiniteAudioError,
    SilentAudioError,
    UndecodableAudioError,
    UnsupportedSampleRateError,
    load_audio,
    read_audio_info,
)
from tests.support.audio import harmonic_tone, wav_bytes


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 24_414, 44_100, 48_000, 96_000])
def test_any_rate_becomes_16k_with_same_duration(rate: int) -> None:
    audio = load_audio(wav_bytes(harmonic_tone(1.0, rate=rate), rate))
    assert audio.source_sample_rate == rate
    assert audio.samples.dtype == np.float32
    assert abs(len(audio.samples) - SAMPLE_RATE) <= 1
    assert audio.duration_s == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [("WAV", "PCM_U8"), ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"),
     ("WAV", "DOUBLE"), ("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("AIFF", "PCM_16")],
)  # fmt: skip
def test_every_container_and_sample_format_decodes_to_the_same_signal(
    fmt: str, subtype: str
) -> None:
    tone = harmonic_tone(0.5)
    audio = load_audio(wav_bytes(tone, fmt=fmt, subtype=subtype))
    tolerance = {"PCM_U8": 2e-2, "VORBIS": 5e-2}.get(subtype, 1e-3)
    assert len(audio.samples) == pytest.approx(len(tone), abs=2)
    n = min(len(tone), len(audio.samples))
    assert np.sqrt(np.mean((audio.samples[:n] - tone[:n]) ** 2)) < tolerance


def test_aiff_content_behind_a_wav_name_decodes(tmp_path) -> None:
    # Two TESS files are AIFF with a .wav name: the container is sniffed from the bytes.
    path = tmp_path / "YAF_date_happy.wav"
    soundfile.write(path, harmonic_tone(0.5), SAMPLE_RATE, format="AIFF")
    assert load_audio(path).source_sample_rate == SAMPLE_RATE


@pytest.mark.parametrize("channels", [2, 6])
def test_channels_are_averaged(channels: int) -> None:
    tone = harmonic_tone(0.5)
    layout = np.stack([tone * (c + 1) / channels for c in range(channels)], axis=1)
    audio = load_audio(wav_bytes(layout, subtype="FLOAT"))
    assert audio.source_channels == channels
    np.testing.assert_allclose(audio.samples, layout.mean(axis=1), atol=1e-6)


def test_path_bytes_and_file_object_agree(tmp_path) -> None:
    data = wav_bytes(harmonic_tone(0.7, rate=44_100), 44_100)
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    from_bytes = load_audio(data).samples
    np.testing.assert_array_equal(from_bytes, load_audio(path).samples)
    np.testing.assert_array_equal(from_bytes, load_audio(io.BytesIO(data)).samples)


def test_info_reads_the_header_without_decoding() -> None:
    info = read_audio_info(wav_bytes(np.zeros((48_000, 2), np.float32), 48_000))
    assert (info.sample_rate, info.channels, info.frames, info.format) == (48_000, 2, 48_000, "WAV")
    assert info.duration_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyAudioError),
        (b"this is a text file, not audio" * 10, UndecodableAudioError),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", UndecodableAudioError),  # truncated header
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(500), UndecodableAudioError),  # a JPEG
    ],
)
def test_bad_bytes_raise_clear_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        load_audio(data)


def test_nan_samples_are_refused() -> None:
    tone = harmonic_tone(0.5).astype(np.float64)
    tone[100] = np.nan
    with pytest.raises(NonFiniteAudioError):
        load_audio(wav_bytes(tone, subtype="DOUBLE"))


def test_silence_is_refused_unless_allowed() -> None:
    data = wav_bytes(np.zeros(16_000, np.float32))
    with pytest.raises(SilentAudioError):
        load_audio(data)
    assert load_audio(data, allow_silent=True).samples.shape == (16_000,)


def test_zero_samples_is_empty() -> None:
    with pytest.raises(EmptyAudioError):
        load_audio(wav_bytes(np.zeros(0, np.float32)))


def test_absurd_sample_rate_is_refused() -> None:
    with pytest.raises(UnsupportedSampleRateError):
        load_audio(wav_bytes(harmonic_tone(0.5, rate=2_000), 2_000))


def test_float_audio_beyond_full_scale_is_kept_not_clipped() -> None:
    loud = 3.0 * harmonic_tone(0.5)
    assert np.max(np.abs(load_audio(wav_bytes(loud, subtype="FLOAT")).samples)) > 1.2
