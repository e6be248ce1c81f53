"""Tables of results: the batch summary (and its CSV download) and a clip's segment list.

Pure pandas, no Streamlit. Column names are the CSV's header, so they are plain
snake_case words a spreadsheet user can read without the docs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ser_ui.client import BatchItem, Prediction

NOT_SURE = "not sure"  # the answer of a file whose best guess is below the model's threshold

BATCH_COLUMNS = [
    "file",
    "status",
    "answer",  # the emotion, or "not sure": what the model is willing to say (issue 34)
    "emotion",  # the best guess, also when not sure
    "confidence",
    "uncertain",  # true: "not sure", the emotion is only a best guess
    "arousal",  # 0 calm … 1 activated
    "valence",  # -1 negative … +1 positive
    "duration_s",
    "sample_rate",
    "model_version",
    "error",
]
PROBABILITY_PREFIX = "p_"  # per-label probability columns: p_angry, p_happy, ...


def batch_frame(items: Sequence[BatchItem], labels: Sequence[str] = ()) -> pd.DataFrame:
    """One row per file, in upload order, ready for display and CSV export.

    Parameters
    ----------
    items
        Batch outcomes from :meth:`ser_ui.client.ApiClient.predict_batch`.
    labels
        Label order for the probability columns (the model's order); labels found only in
        the results are appended after them.

    Returns
    -------
    DataFrame with :data:`BATCH_COLUMNS` then one ``p_<label>`` column per label.
    ``status`` is ``"ok"`` or ``"rejected"``; a rejected file has the API's ``error`` text
    and empty result cells.
    """
    all_labels = list(dict.fromkeys(labels))
    for item in items:
        if item.prediction is not None:
            all_labels += [
                label for label in item.prediction.probabilities if label not in all_labels
            ]
    rows = []
    for item in items:
        row: dict[str, object] = {"file": item.filename}
        if item.prediction is not None:
            prediction = item.prediction
            row |= {
                "status": "ok",
                "answer": NOT_SURE if prediction.uncertain else prediction.emotion,
                "emotion": prediction.emotion,
                "confidence": round(prediction.confidence, 4),
                "uncertain": prediction.uncertain,
                "arousal": round(prediction.arousal, 4),
                "valence": round(prediction.valence, 4),
                "duration_s": round(prediction.duration_s, 3),
                "sample_rate": prediction.sample_rate,
                "model_version": prediction.model_version,
                "error": "",
            }
            for label in all_labels:
                probability = prediction.probabilities.get(label)
                row[PROBABILITY_PREFIX + label] = (
                    None if probability is None else round(probability, 4)
                )
        else:
            row |= {
                "status": "rejected",
                "error": item.error.detail if item.error else "unknown error",
            }
        rows.append(row)
    columns = BATCH_COLUMNS + [PROBABILITY_PREFIX + label for label in all_labels]
    frame = pd.DataFrame(rows, columns=columns)
    # Integers stay integers in the CSV even when a rejected row leaves a hole.
    frame["sample_rate"] = frame["sample_rate"].astype("Int64")
    return frame


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header and no index column."""
    return frame.to_csv(index=False).encode("utf-8")


def segments_frame(prediction: Prediction) -> pd.DataFrame:
    """The API's timeline windows as a table.

    Returns
    -------
    DataFrame with columns ``start_s``, ``end_s`` (float, seconds), ``emotion`` (str;
    ``"silence"`` for an unclassified silent window), ``confidence``, ``arousal`` and
    ``valence`` (float or NaN when silent) and ``uncertain`` (bool, or None when silent).
    """
    numbers = ["confidence", "arousal", "valence"]
    rows = [
        {
            "start_s": segment.start_s,
            "end_s": segment.end_s,
            "emotion": "silence" if segment.silent else segment.emotion,
            "uncertain": segment.uncertain,
            **{name: getattr(segment, name) for name in numbers},
        }
        for segment in prediction.segments
    ]
    frame = pd.DataFrame(rows, columns=["start_s", "end_s", "emotion", *numbers, "uncertain"])
    frame[numbers] = frame[numbers].astype(float)
    return frame


# Evaluation summaries ------------------------------------------------------------------

# Headline numbers the training job reports (ser_training.evaluation.metrics); shown first, in order.
HEADLINE_METRICS = ("accuracy", "uar", "macro_f1", "macro_precision", "n")
RATE_METRICS = frozenset({"accuracy", "uar", "macro_f1", "macro_precision", "weighted_f1"})
# Bulky breakdowns that are not one evaluation: shown elsewhere or only in the raw view.
NOT_AN_EVALUATION = frozenset({"per_class", "confusion_matrix", "prediction_distribution"})
MAX_METRICS_DEPTH = 3  # nesting levels searched, e.g. metrics → "loco" → "crema_d"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metrics_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per evaluation found in the model's ``metrics``, one column per number.

    The layout of ``metrics`` belongs to the training job, so this looks for any object
    holding numbers (the top level is the row ``"overall"``; nested objects are named by
    their path, e.g. ``"loco / crema_d"``).

    Returns
    -------
    DataFrame with column ``evaluation`` then the numeric metrics, :data:`HEADLINE_METRICS`
    first; empty when there are no numbers.
    """
    rows: list[dict[str, Any]] = []

    def visit(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        numbers = {key: value for key, value in node.items() if _is_number(value)}
        if numbers:
            rows.append({"evaluation": " / ".join(path) or "overall", **numbers})
        if len(path) >= MAX_METRICS_DEPTH:
            return
        for key, value in node.items():
            if isinstance(value, Mapping) and key not in NOT_AN_EVALUATION:
                visit(value, (*path, str(key)))

    visit(metrics, ())
    if not rows:
        return pd.DataFrame(columns=["evaluation"])
    found = list(dict.fromkeys(key for row in rows for key in row if key != "evaluation"))
    ordered = [key for key in HEADLINE_METRICS if key in found]
    ordered += [key for key in found if key not in ordered]
    return pd.DataFrame(rows, columns=["evaluation", *ordered])


def per_class_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Precision/recall/F1/support per emotion from the first ``per_class`` block found.

    Searched breadth-first, so a top-level (or test-set) breakdown wins over nested ones.

    Returns
    -------
    DataFrame with column ``emotion`` then the block's numeric fields; empty if none.
    """
    queue: list[Mapping[str, Any]] = [metrics]
    while queue:
        node = queue.pop(0)
        block = node.get("per_class")
        if isinstance(block, Mapping) and block:
            rows = [
                {"emotion": label, **{k: v for k, v in values.items() if _is_number(v)}}
                for label, values in block.items()
                if isinstance(values, Mapping)
            ]
            return pd.DataFrame(rows)
        queue += [value for value in node.values() if isinstance(value, Mapping)]
    return pd.DataFrame(columns=["emotion"])
