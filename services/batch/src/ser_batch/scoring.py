"""Score a list of audio files with one classifier: one row per file, errors included.

No Ray here: the actor in :mod:`ser_batch.job` calls :func:`score_files` on each batch, and
tests call it directly. Files are decoded and featurised one by one; their windows are
gathered and sent to the model together (up to ``MAX_WINDOWS_PER_RUN`` per call), which is
where batching pays: one ``session.run`` for many short clips instead of one each.

With speaker adaptation (``--speaker-from``, :mod:`ser_batch.speakers`) each file comes with
its speaker and that speaker's profile, and with ``--domain-from-input`` with the archive's
domain profile: a file with either is answered by :meth:`EmotionClassifier.predict_adapted`
(adapted where the model's usable rule allows, else plain with the reason), a file with
neither plain (batched as above) with the reason it has no speaker.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ser_features import AudioError
from ser_inference import (
    AudioLimits,
    EmotionClassifier,
    Prediction,
    PreparedAudio,
    SpeakerStats,
    answer_fields,
)

logger = logging.getLogger(__name__)

# Windows per model call: 256 windows of the shipped model's input are ~33 MB of float32;
# larger calls do not run faster per window on a CPU and only hold more memory.
MAX_WINDOWS_PER_RUN = 256
PROBABILITY_PREFIX = "p_"
SEGMENTS_COLUMN = "segments"
ADAPTED_COLUMN = "adapted"
# Reasons for failures that are not the audio's fault (the API has no such cases).
UNREADABLE_REASON = "unreadable"  # the file vanished or may not be read
INTERNAL_REASON = "internal"  # a bug: logged with its traceback, the job goes on


def probability_columns(labels: tuple[str, ...]) -> list[str]:
    """``p_<label>`` for each label, in the model's label order."""
    return [f"{PROBABILITY_PREFIX}{label}" for label in labels]


def _probability_fields(labels: tuple[str, ...]) -> list[tuple[str, pa.DataType]]:
    return [(name, pa.float64()) for name in probability_columns(labels)]


# The answer columns of a file and of a window (ser_inference.answer_fields, as the API's
# fields): emotion, its calibrated confidence, "not sure", arousal in [0, 1] and valence in
# [-1, 1]; null when not classified.
_ANSWER_FIELDS: list[tuple[str, pa.DataType]] = [
    ("emotion", pa.string()),
    ("confidence", pa.float64()),
    ("uncertain", pa.bool_()),
    ("arousal", pa.float64()),
    ("valence", pa.float64()),
]


def segment_type(labels: tuple[str, ...]) -> pa.StructType:
    """One model window of a file's timeline (times in s, level in dBFS)."""
    return pa.struct(
        [
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("rms_dbfs", pa.float64()),
            ("silent", pa.bool_()),
            *_ANSWER_FIELDS,
            *_probability_fields(labels),
        ]
    )


# With --speaker-from or --domain-from-input only, after the columns of every run (whose meaning stays: with
# adaptation the answer above is the adapted one when ``adapted``).
_SPEAKER_FIELDS: list[tuple[str, pa.DataType]] = [
    ("speaker", pa.string()),  # null: the file has no speaker (adaptation_reason says why)
    (ADAPTED_COLUMN, pa.bool_()),  # null for a file with an error
    ("adaptation_reason", pa.string()),  # why a plain answer; null when adapted
    ("plain_emotion", pa.string()),  # the plain head's answer (= emotion when not adapted)
    ("plain_confidence", pa.float64()),
    ("adaptation", pa.string()),  # when adapted: speaker, domain or speaker+domain
]


@dataclass(frozen=True, slots=True)
class Adaptation:
    """What to adapt one file's answer to (``--speaker-from``, ``--domain-from-input``)."""

    speaker: str | None  # None: no speaker (``reason`` says why, with --speaker-from)
    profile: SpeakerStats | None  # the speaker's profile (all its files); None without one
    reason: str | None = None  # why a file without a profile is answered plain
    domain: SpeakerStats | None = None  # the archive's domain profile (all its files)

    @property
    def adapts(self) -> bool:
        return self.profile is not None or self.domain is not None


def result_schema(
    labels: tuple[str, ...], *, with_segments: bool, with_speakers: bool = False
) -> pa.Schema:
    """Columns of the results table; ``segments`` (a list per file) only when asked for, the
    speaker adaptation columns only with ``--speaker-from``."""
    fields = [
        ("path", pa.string()),
        *_ANSWER_FIELDS,
        *_probability_fields(labels),
        ("duration_s", pa.float64()),
        ("sample_rate", pa.int64()),
        ("model_version", pa.string()),
        ("error", pa.string()),  # null, or the AudioError reason code (as the API's metrics)
        ("error_detail", pa.string()),  # the one-line message the API answers with
    ]
    if with_speakers:
        fields += _SPEAKER_FIELDS
    if with_segments:
        fields.append((SEGMENTS_COLUMN, pa.list_(segment_type(labels))))
    return pa.schema(fields)


def _label_values(labels: tuple[str, ...], probabilities: np.ndarray | None) -> dict:
    names = probability_columns(labels)
    if probabilities is None:
        return dict.fromkeys(names)
    return {name: float(value) for name, value in zip(names, probabilities, strict=True)}


def _speaker_values(adaptation: Adaptation | None, prediction: Prediction | None) -> dict:
    if adaptation is None:
        return {}
    if prediction is None:  # an error: no answer, adapted or not
        return {
            "speaker": adaptation.speaker,
            **dict.fromkeys(name for name, _ in _SPEAKER_FIELDS[1:]),
        }
    plain = prediction.plain or prediction
    return {
        "speaker": adaptation.speaker,
        ADAPTED_COLUMN: prediction.adapted,
        "adaptation_reason": prediction.adaptation_reason,
        "plain_emotion": plain.emotion,
        "plain_confidence": plain.confidence,
        "adaptation": prediction.adaptation if prediction.adapted else None,
    }


def _row(
    path: str, prediction: Prediction, model_version: str, with_segments: bool,
    adaptation: Adaptation | None = None,
) -> dict:  # fmt: skip
    labels = prediction.labels
    row = {
        "path": path,
        **answer_fields(prediction.judgement),
        **_label_values(labels, prediction.probabilities),
        "duration_s": prediction.duration_s,
        "sample_rate": prediction.source_sample_rate,
        "model_version": model_version,
        "error": None,
        "error_detail": None,
        **_speaker_values(adaptation, prediction),
    }
    if with_segments:
        segments = []
        for window in prediction.windows:
            segments.append(
                {
                    "start_s": window.start_s,
                    "end_s": window.end_s,
                    "rms_dbfs": window.rms_dbfs,
                    "silent": window.silent,
                    **answer_fields(window.judgement),
                    **_label_values(labels, window.probabilities),
                }
            )
        row[SEGMENTS_COLUMN] = segments
    return row


def _error_row(
    path: str, reason: str, detail: str, labels: tuple[str, ...], model_version: str,
    adaptation: Adaptation | None = None,
) -> dict:  # fmt: skip
    return {
        "path": path,
        **answer_fields(None),
        **_label_values(labels, None),
        "duration_s": None,
        "sample_rate": None,
        "model_version": model_version,
        "error": reason,
        "error_detail": detail,
        **_speaker_values(adaptation, None),
    }


@dataclass
class _Pending:
    """Recordings prepared but not yet run through the model."""

    items: list[tuple[int, PreparedAudio]] = field(default_factory=list)  # (row index, audio)
    n_windows: int = 0


def score_files(
    classifier: EmotionClassifier,
    paths: list[str],
    limits: AudioLimits,
    *,
    with_segments: bool = False,
    adaptations: Sequence[Adaptation] | None = None,
) -> pa.Table:
    """Classify each file; a file that cannot be classified becomes a row with its error.

    Parameters
    ----------
    classifier : the loaded model (the API's classifier)
    paths : files to read (any format ``ser_features.load_audio`` decodes)
    limits : the same duration and size limits the API applies
    with_segments : add each file's window timeline as a ``segments`` list column
    adaptations : one per path (``--speaker-from``): answer adapted to the speaker's profile
        and add the speaker columns; None: plain answers, no speaker columns

    Returns
    -------
    pa.Table
        One row per path, in order, with :func:`result_schema` columns. Probabilities are
        those :meth:`EmotionClassifier.predict` gives for the file alone (with a profile:
        those :meth:`EmotionClassifier.predict_adapted` gives for it and that profile).
    """
    labels, version = classifier.labels, classifier.model_version
    if adaptations is not None and len(adaptations) != len(paths):
        raise ValueError(f"{len(adaptations)} adaptations for {len(paths)} paths")
    adapt = adaptations or [None] * len(paths)
    rows: list[dict | None] = [None] * len(paths)
    pending = _Pending()

    def flush() -> None:
        if not pending.items:
            return
        started = time.perf_counter()
        probabilities = classifier.run(
            np.concatenate([audio.utterance.features for _, audio in pending.items])
        )
        per_window_ms = (time.perf_counter() - started) * 1e3 / len(probabilities)
        offset = 0
        for index, audio in pending.items:
            n = len(audio.utterance.features)
            prediction = classifier.assemble(
                audio, probabilities[offset : offset + n], per_window_ms * n
            )
            if adapt[index] is not None:  # no profile: a plain answer, and why
                prediction = dataclasses.replace(prediction, adaptation_reason=adapt[index].reason)
            rows[index] = _row(paths[index], prediction, version, with_segments, adapt[index])
            offset += n
        pending.items.clear()
        pending.n_windows = 0

    for index, path in enumerate(paths):
        adaptation = adapt[index]
        try:
            audio = classifier.prepare(path, limits)
            if adaptation is not None and adaptation.adapts:
                prediction = classifier.predict_adapted(
                    audio, adaptation.profile, adaptation.domain, own_voice=False
                )
                rows[index] = _row(path, prediction, version, with_segments, adaptation)
                continue
        except AudioError as error:
            rows[index] = _error_row(path, error.reason, str(error), labels, version, adaptation)
            continue
        except OSError as error:
            detail = f"the file cannot be read: {error.strerror or error}"
            rows[index] = _error_row(path, UNREADABLE_REASON, detail, labels, version, adaptation)
            continue
        except Exception as error:  # one bad file must never stop an archive's job
            logger.exception("unexpected error scoring %s", path)
            rows[index] = _error_row(
                path, INTERNAL_REASON, repr(error), labels, version, adaptation
            )
            continue
        if pending.n_windows + len(audio.utterance.features) > MAX_WINDOWS_PER_RUN:
            flush()
        pending.items.append((index, audio))
        pending.n_windows += len(audio.utterance.features)
    flush()
    schema = result_schema(
        labels, with_segments=with_segments, with_speakers=adaptations is not None
    )
    return pa.Table.from_pylist(rows, schema=schema)
