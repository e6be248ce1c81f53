"""The recordings the service takes: one list, by the names people know and by file extension.

Everything that tells a person or a program which files may be sent reads this list: the web
app's uploaders (their file filter, label and help text), the content type the web app sends
with an upload, and the format lists of the README and docs/ (``tests/frontdoor`` compares them). The API never
trusts a name: ``ser_features`` decodes the bytes (libsndfile, then FFmpeg through PyAV), and
its folder-scan list ``ser_features.AUDIO_EXTENSIONS`` holds exactly these extensions
(``tests/contract``). Each container named here decoded there when the list was written
(one PyAV-encoded file each); ``tests/features`` checks MP3, M4A, WebM and MP4 every run.

Plain Python, no pydantic: the web app image installs this package and nothing of the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One kind of file a person recognises.

    Attributes
    ----------
    name
        How a person knows it ("WAV", "M4A/AAC").
    media_types
        File extension (lower case, with the dot) → content type sent with an upload.
    video
        A video file: the service analyses its sound track.
    """

    name: str
    media_types: Mapping[str, str]
    video: bool = False


AUDIO_FORMATS: tuple[AudioFormat, ...] = (
    AudioFormat("WAV", {".wav": "audio/wav", ".wave": "audio/wav"}),
    AudioFormat("FLAC", {".flac": "audio/flac"}),
    AudioFormat("OGG/Opus", {".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg"}),
    AudioFormat("AIFF", {".aiff": "audio/aiff", ".aif": "audio/aiff"}),
    AudioFormat("MP3", {".mp3": "audio/mpeg"}),
    AudioFormat("M4A/AAC", {".m4a": "audio/mp4", ".aac": "audio/aac"}),
    AudioFormat("WebM", {".webm": "audio/webm"}),
    AudioFormat("MKA", {".mka": "audio/x-matroska"}),
    AudioFormat("WMA", {".wma": "audio/x-ms-wma"}),
    AudioFormat("AMR", {".amr": "audio/amr"}),
    AudioFormat("MP4", {".mp4": "video/mp4", ".m4v": "video/mp4"}, video=True),
    AudioFormat("MOV", {".mov": "video/quicktime"}, video=True),
    AudioFormat("MKV", {".mkv": "video/x-matroska"}, video=True),
    AudioFormat("AVI", {".avi": "video/x-msvideo"}, video=True),
    AudioFormat("3GP", {".3gp": "video/3gpp"}, video=True),
)

# Extension → content type, for every extension above.
AUDIO_MEDIA_TYPES: dict[str, str] = {
    extension: media_type
    for audio_format in AUDIO_FORMATS
    for extension, media_type in audio_format.media_types.items()
}
AUDIO_EXTENSIONS: frozenset[str] = frozenset(AUDIO_MEDIA_TYPES)


def describe_formats() -> str:
    """The list as the web app and the docs say it.

    "WAV, FLAC, …, AMR or a video file (MP4, MOV, …)": audio formats first, then the video
    containers whose sound track is analysed.
    """
    audio = [f.name for f in AUDIO_FORMATS if not f.video]
    video = [f.name for f in AUDIO_FORMATS if f.video]
    return f"{', '.join(audio)} or a video file ({', '.join(video)})"
