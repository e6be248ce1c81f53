"""Tables of results: the batch summary (and its CSV download) and a clip's segment list.

Pure pandas, no Streamlit. Column names are the CSV's header, so they are plain
snake_case words a spreadsheet user can read without the docs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ser_ui.client import BatchItem, Prediction

BATCH_COLUMNS = [
    "file",
    "status",
    "emotion",
    "confidence",
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
                "emotion": prediction.emotion,
                "confidence": round(prediction.confidence, 4),
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
    """The API's timeline windows as a table: start, end, emotion, confidence.

    Returns
    -------
    DataFrame with columns ``start_s``, ``end_s`` (float, seconds), ``emotion`` (str;
    ``"silence"`` for an unclassified silent window) and ``confidence`` (float or NaN).
    """
    rows = [
        {
            "start_s": segment.start_s,
            "end_s": segment.end_s,
            "emotion": "silence" if segment.silent else segment.emotion,
            "confidence": segment.confidence,
        }
        for segment in prediction.segments
    ]
    frame = pd.DataFrame(rows, columns=["start_s", "end_s", "emotion", "confidence"])
    frame["confidence"] = frame["confidence"].astype(float)
    return frame
