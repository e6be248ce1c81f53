"""Speaker adaptation (``--speaker-from``, issue 24): whose voice each file is, and the
profile of each speaker's voice built from all of that speaker's files.

A file's speaker comes from its *name* (:func:`ser_batch.inputs.list_named_inputs`: the path
relative to the input folder, or as the manifest writes it): ``folder`` takes the folder it
is in, anything else is a regular expression searched in the name whose ``speaker`` group
(else its first group) is the speaker. A file without a speaker is answered plain, with the
reason in its row.

The job is two passes over the files. Pass 1 (:func:`enrol_files`, on the actors) decodes
every file of every speaker that has something to score and sums its voiced windows' speaker
statistics per speaker; the driver adds the partial sums up (:func:`merge_profiles`: sums
merge by addition, so the result is the profile of all the speaker's files at once). Pass 2
(:func:`ser_batch.scoring.score_files`) answers each file adapted to its speaker's profile,
where the model's usable rule allows. A file is decoded and sent through the encoder once
per pass: adaptation doubles the job's cost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa

from ser_inference import AudioLimits, EmotionClassifier, SpeakerStats

logger = logging.getLogger(__name__)

FOLDER = "folder"  # --speaker-from folder: the file's folder, relative to the input
SPEAKER_GROUP = "speaker"  # a regex's named group; without one, its first group
NO_SPEAKER_IN_NAME = "no speaker in name"
NO_SPEAKER_FOLDER = "no speaker folder: the file is not in a sub-folder of the input"
EXAMPLE_REGEX = r"^(\w+)_\d+\.wav$"


class SpeakerRuleError(ValueError):
    """``--speaker-from`` is neither ``folder`` nor a regex with a group; says what to fix."""


@dataclass(frozen=True)
class SpeakerRule:
    """How a file's name gives its speaker: its folder, or a regex group."""

    spec: str  # the option's value, as given
    pattern: re.Pattern[str] | None  # None: the folder

    @classmethod
    def parse(cls, value: str) -> SpeakerRule:
        """``folder`` or a regular expression with a capture group.

        Raises
        ------
        SpeakerRuleError
        """
        if value == FOLDER:
            return cls(value, None)
        try:
            pattern = re.compile(value)
        except re.error as error:
            raise SpeakerRuleError(
                f"--speaker-from '{value}' is neither '{FOLDER}' nor a valid regular "
                f"expression: {error}"
            ) from None
        if pattern.groups < 1:
            raise SpeakerRuleError(
                f"--speaker-from '{value}' has no capture group: put the speaker id in one, "
                f"e.g. '{EXAMPLE_REGEX}' or '(?P<{SPEAKER_GROUP}>...)'"
            )
        return cls(value, pattern)

    def speaker_of(self, name: str) -> tuple[str | None, str | None]:
        """``(speaker, None)``, or ``(None, why not)`` for a file without one.

        Parameters
        ----------
        name : the file's path relative to the input folder (or as the manifest writes it),
            ``/`` separated
        """
        if self.pattern is None:
            folder = str(PurePosixPath(name).parent)
            return (None, NO_SPEAKER_FOLDER) if folder in ("", ".") else (folder, None)
        match = self.pattern.search(name)
        if match is None:
            return None, NO_SPEAKER_IN_NAME
        group = SPEAKER_GROUP if SPEAKER_GROUP in self.pattern.groupindex else 1
        speaker = match.group(group)
        return (speaker, None) if speaker else (None, NO_SPEAKER_IN_NAME)


# Pass 1's rows: one per speaker of an actor's batch, the sums of that speaker's files in it.
PROFILE_SCHEMA = pa.schema(
    [
        ("speaker", pa.string()),
        ("files", pa.int64()),  # files of the speaker in the batch
        ("failed", pa.int64()),  # of which not decodable (left out; pass 2 reports them)
        ("n_windows", pa.int64()),
        ("total", pa.list_(pa.float64())),
        ("total_sq", pa.list_(pa.float64())),
        ("label_counts", pa.list_(pa.int64())),
        ("clips", pa.int64()),
        ("seconds", pa.float64()),
    ]
)


def enrol_files(
    classifier: EmotionClassifier,
    paths: Sequence[str],
    speakers: Sequence[str],
    limits: AudioLimits,
) -> pa.Table:
    """Pass 1 on one batch: each speaker's statistics over its files' voiced windows.

    A file that cannot be decoded or classified (the same checks as scoring) is left out of
    its speaker's profile and counted as ``failed``; scoring reports its error.

    Returns
    -------
    pa.Table
        :data:`PROFILE_SCHEMA`, one row per speaker, in order of first appearance.
    """
    sums: dict[str, SpeakerStats] = {}
    counts: dict[str, list[int]] = {}  # speaker → [files, failed]
    for path, speaker in zip(paths, speakers, strict=True):
        count = counts.setdefault(speaker, [0, 0])
        count[0] += 1
        stats = sums.setdefault(speaker, classifier.empty_profile())
        try:
            clip = classifier.enrol(path, limits)
        except Exception as error:  # AudioError, OSError, a bug: scoring names and logs it
            logger.debug("%s left out of speaker %s's profile: %r", path, speaker, error)
            count[1] += 1
            continue
        sums[speaker] = stats.merged(clip)
    rows = [
        {
            "speaker": speaker,
            "files": counts[speaker][0],
            "failed": counts[speaker][1],
            "n_windows": stats.n_windows,
            "total": stats.total,
            "total_sq": stats.total_sq,
            "label_counts": stats.label_counts,
            "clips": stats.clips,
            "seconds": stats.seconds,
        }
        for speaker, stats in sums.items()
    ]
    return pa.Table.from_pylist(rows, schema=PROFILE_SCHEMA)


def merge_profiles(profiles: dict[str, SpeakerStats], partial: pa.Table) -> dict[str, SpeakerStats]:
    """Add pass-1 rows (:data:`PROFILE_SCHEMA`) to ``profiles`` (speaker → statistics so far,
    updated in place and returned)."""
    for row in partial.to_pylist():
        stats = SpeakerStats(
            n_windows=row["n_windows"],
            total=np.asarray(row["total"], np.float64),
            total_sq=np.asarray(row["total_sq"], np.float64),
            label_counts=np.asarray(row["label_counts"], np.int64),
            clips=row["clips"],
            seconds=row["seconds"],
        )
        known = profiles.get(row["speaker"])
        profiles[row["speaker"]] = stats if known is None else known.merged(stats)
    return profiles
