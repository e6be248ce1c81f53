"""Formats libsndfile refuses (M4A/AAC, WebM/Opus, video files) decode through FFmpeg (PyAV)."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from ser_features import (
    SAMPLE_RATE,
    AudioTooLongError,
    UndecodableAudioError,
    load_audio,
    read_audio_info,
)
from tests.support.audio import ENCODED_FORMATS, encoded_bytes, harmonic_tone

DURATION_S = 1.0
# Lossy codecs add encoder delay (AAC: 1024 priming samples) and padding to whole frames.
DURATION_TOLERANCE_S = 0.08


def _best_correlation(decoded: np.ndarray, reference: np.ndarray) -> float:
    """Highest normalised correlation over lags of up to 0.1 s (codec delay)."""
    n = len(reference)
    best = 0.0
    for lag in range(SAMPLE_RATE // 10):
        a = decoded[lag : lag + n]
        b = reference[: len(a)]
        best = max(best, float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))
    return best


@pytest.mark.parametrize("kind", sorted(ENCODED_FORMATS))
def test_each_format_decodes_to_the_same_signal(kind: str) -> None:
    rate = ENCODED_FORMATS[kind][2]
    tone = harmonic_tone(DURATION_S, rate=rate)
    data = encoded_bytes(tone, kind)
    info = read_audio_info(data)
    audio = load_audio(data)
    assert (info.sample_rate, info.channels) == (rate, 1)
    assert info.duration_s == pytest.approx(DURATION_S, abs=DURATION_TOLERANCE_S)
    assert audio.source_sample_rate == rate
    assert audio.duration_s == pytest.approx(DURATION_S, abs=DURATION_TOLERANCE_S)
    reference = soxr.resample(tone, rate, SAMPLE_RATE).astype(np.float32)
    assert _best_correlation(audio.samples, reference) > 0.95


def test_a_file_path_decodes_like_its_bytes(tmp_path) -> None:
    data = encoded_bytes(harmonic_tone(DURATION_S, rate=48_000), "webm")
    path = tmp_path / "recording.webm"
    path.write_bytes(data)
    np.testing.assert_array_equal(load_audio(path).samples, load_audio(data).samples)


def test_a_browser_recording_without_a_duration_is_measured_by_decoding() -> None:
    data = encoded_bytes(harmonic_tone(DURATION_S, rate=48_000), "webm", streamed=True)
    info = read_audio_info(data)
    assert info.duration_s == pytest.approx(DURATION_S, abs=DURATION_TOLERANCE_S)
    with pytest.raises(AudioTooLongError):  # counting stops at the decoded-size limit
        read_audio_info(data, max_decoded_values=10_000)


def test_the_decoded_size_guard_applies_to_ffmpeg_formats() -> None:
    data = encoded_bytes(harmonic_tone(DURATION_S, rate=44_100), "m4a")
    with pytest.raises(AudioTooLongError) as caught:
        load_audio(data, max_decoded_values=10_000)
    assert caught.value.reason == "too_long"


@pytest.mark.parametrize(
    "blob",
    [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
    ],
    ids=["hls-playlist", "concat-list"],
)
def test_playlists_naming_other_files_are_refused(blob: bytes) -> None:
    # FFmpeg would open the files or URLs a playlist names; only plain containers may open.
    with pytest.raises(UndecodableAudioError) as caught:
        load_audio(blob)
    assert caught.value.reason == "undecodable"
