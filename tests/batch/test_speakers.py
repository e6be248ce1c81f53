"""--speaker-from: which speaker a file's name gives (folder or regex), and bad rules refused."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ser_batch.speakers import (
    NO_SPEAKER_FOLDER,
    NO_SPEAKER_IN_NAME,
    PROFILE_SCHEMA,
    SpeakerRule,
    SpeakerRuleError,
    merge_profiles,
)
from ser_inference import SpeakerStats


def test_folder_is_the_files_folder_relative_to_the_input() -> None:
    rule = SpeakerRule.parse("folder")
    assert rule.speaker_of("ann/a.wav") == ("ann", None)
    assert rule.speaker_of("calls/2026/ann/a.wav") == ("calls/2026/ann", None)
    assert rule.speaker_of("a.wav") == (None, NO_SPEAKER_FOLDER)
    assert rule.speaker_of("/data/bob/b.wav") == ("/data/bob", None)  # a manifest's absolute path


def test_a_regex_takes_its_first_group_or_the_speaker_group() -> None:
    rule = SpeakerRule.parse(r"^(\w+)_\d+\.wav$")
    assert rule.speaker_of("ann_1.wav") == ("ann", None)
    assert rule.speaker_of("sub/ann_1.wav") == (None, NO_SPEAKER_IN_NAME)  # \w has no '/'
    assert rule.speaker_of("ann-1.wav") == (None, NO_SPEAKER_IN_NAME)
    # re.search: anywhere in the name; the named group wins over the first.
    named = SpeakerRule.parse(r"(\d{4})/(?P<speaker>[A-Z]{2}\d)/")
    assert named.speaker_of("calls/2026/AB1/x.wav") == ("AB1", None)
    # A group that matches nothing is no speaker.
    optional = SpeakerRule.parse(r"^(\w*)-")
    assert optional.speaker_of("-x.wav") == (None, NO_SPEAKER_IN_NAME)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (r"^(\w+_\d+\.wav$", "nor a valid regular expression: missing )"),
        (r"^\w+_\d+\.wav$", "has no capture group"),
        ("", "has no capture group"),
    ],
)
def test_a_bad_rule_is_refused_with_what_to_fix(value: str, message: str) -> None:
    with pytest.raises(SpeakerRuleError) as caught:
        SpeakerRule.parse(value)
    assert message in str(caught.value)


def test_partial_profiles_add_up_to_the_profile_of_all_windows() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(5, 3))
    probabilities = rng.dirichlet(np.ones(4), size=5)
    clips = [
        SpeakerStats.of_windows(features[:2], probabilities[:2], 1.0),
        SpeakerStats.of_windows(features[2:], probabilities[2:], 2.0),
    ]

    def row(stats: SpeakerStats) -> dict:
        return {"speaker": "ann", "files": 1, "failed": 0, "n_windows": stats.n_windows,
                "total": stats.total, "total_sq": stats.total_sq,
                "label_counts": stats.label_counts, "clips": stats.clips,
                "seconds": stats.seconds}  # fmt: skip

    profiles: dict[str, SpeakerStats] = {}
    for clip in clips:
        merge_profiles(profiles, pa.Table.from_pylist([row(clip)], schema=PROFILE_SCHEMA))
    whole = SpeakerStats.of_windows(features, probabilities, 3.0, clips=2)
    (got,) = profiles.values()
    assert (got.n_windows, got.clips, got.seconds) == (5, 2, 3.0)
    np.testing.assert_allclose(got.total, whole.total, rtol=1e-12)
    np.testing.assert_allclose(got.total_sq, whole.total_sq, rtol=1e-12)
    np.testing.assert_array_equal(got.label_counts, whole.label_counts)
