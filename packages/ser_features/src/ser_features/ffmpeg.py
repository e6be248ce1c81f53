"""The FFmpeg fallback decoder (PyAV, whose wheels carry FFmpeg) for what libsndfile refuses.

M4A/AAC voice memos, WebM/Opus browser recordings, video files with an audio track, …
Only the demuxers of ``DEMUXERS`` may open a file: playlist and concatenation formats (HLS,
``concat``) would make FFmpeg open other files or URLs named inside an upload.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO, NamedTuple

import av
import numpy as np

from ser_features.errors import AudioTooLongError, UndecodableAudioError

# Demuxers allowed to open an input (FFmpeg names; "mov" covers mp4/m4a/3gp, "matroska"
# covers webm/mkv). Nothing here follows references to other files or URLs.
DEMUXERS = ("aac", "aiff", "amr", "asf", "avi", "flac", "matroska", "mov", "mp3", "ogg", "wav")
_OPEN_OPTIONS = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "file"}
_DECODED_FORMAT = "fltp"  # planar float32: to_ndarray() is (channels, samples) in [-1, 1]

Source = str | os.PathLike[str] | BinaryIO


class StreamInfo(NamedTuple):
    """The first audio stream as the container describes it."""

    sample_rate: int  # Hz
    channels: int
    frames: int  # samples per channel; counted by decoding when the header has no duration
    format: str  # FFmpeg demuxer, e.g. "mp3", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
    codec: str  # e.g. "aac", "opus", "mp3"


def _open(source: Source) -> av.container.InputContainer:
    if isinstance(source, io.IOBase):
        source.seek(0)
    try:
        return av.open(source, mode="r", options=_OPEN_OPTIONS, metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as error:
        raise UndecodableAudioError(_message("could not read the audio")) from error


def _message(what: str) -> str:
    return (
        f"{what}: it is not WAV, FLAC, OGG, AIFF, MP3, M4A/AAC, WebM/Opus or a video with an "
        "audio track, or it is damaged"
    )


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise UndecodableAudioError(
            f"the file ({container.format.name}) has no audio track: there is nothing to classify"
        )
    return container.streams.audio[0]


def _blocks(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, max_values: int
):
    """Yield decoded blocks, shape (channels, n), float32; stop past ``max_values`` in all."""
    resampler = av.AudioResampler(format=_DECODED_FORMAT)
    total = 0
    try:
        for frame in container.decode(stream):
            for block in resampler.resample(frame):
                values = block.to_ndarray()
                total += values.size
                if total > max_values:
                    raise AudioTooLongError(
                        f"the recording decodes to more than the {max_values} samples this "
                        "service decodes at once — cut it into shorter parts"
                    )
                yield values
        for block in resampler.resample(None):
            yield block.to_ndarray()
    except AudioTooLongError:
        raise  # an AudioError is a ValueError too: not to be reported as undecodable
    except (av.FFmpegError, ValueError) as error:
        raise UndecodableAudioError(_message("could not decode the audio")) from error


def probe(source: Source, max_values: int) -> StreamInfo:
    """Describe the first audio stream, from the header when it says the duration.

    Raises
    ------
    UndecodableAudioError, AudioTooLongError
    """
    with _open(source) as container:
        stream = _audio_stream(container)
        rate = int(stream.codec_context.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / av.time_base
        else:  # WebM from a browser's MediaRecorder has no duration: count, within the limit
            seconds = None
        if seconds is None:
            frames = sum(block.shape[1] for block in _blocks(container, stream, max_values))
        else:
            frames = round(seconds * rate)
        return StreamInfo(rate, channels, frames, container.format.name, stream.codec_context.name)


def decode(source: Source, max_values: int) -> tuple[np.ndarray, int]:
    """Decode the first audio stream.

    Returns
    -------
    samples : np.ndarray, shape (n_samples, channels), float32, nominally in [-1, 1]
    sample_rate : int, Hz

    Raises
    ------
    UndecodableAudioError, AudioTooLongError
    """
    with _open(source) as container:
        stream = _audio_stream(container)
        blocks = list(_blocks(container, stream, max_values))
        rate = int(stream.codec_context.sample_rate or 0)
    if not blocks:
        return np.zeros((0, 1), dtype=np.float32), rate
    return np.ascontiguousarray(np.concatenate(blocks, axis=1).T, dtype=np.float32), rate
