"""The accepted-format list (ser_contract.formats) is one list: what the batch job's folder scan
picks is what the web app offers, each extension belongs to one named format."""

from __future__ import annotations

from collections import Counter

import ser_features
from ser_contract.formats import AUDIO_EXTENSIONS, AUDIO_FORMATS, describe_formats


def test_the_folder_scan_takes_exactly_the_extensions_the_web_app_offers() -> None:
    # ser_features keeps its own constant (it does not depend on the contract package).
    assert ser_features.AUDIO_EXTENSIONS == AUDIO_EXTENSIONS


def test_every_extension_is_lower_case_with_its_dot_and_belongs_to_one_format() -> None:
    owners = Counter(ext for f in AUDIO_FORMATS for ext in f.media_types)
    assert not [ext for ext, n in owners.items() if n > 1]
    assert all(ext.startswith(".") and ext == ext.lower() for ext in AUDIO_EXTENSIONS)
    assert all("/" in media_type for f in AUDIO_FORMATS for media_type in f.media_types.values())


def test_the_description_names_every_format_once() -> None:
    text = describe_formats()
    for audio_format in AUDIO_FORMATS:
        assert text.count(audio_format.name) == 1, audio_format.name
