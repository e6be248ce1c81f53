"""`ser-train calibrate`: calibrate an exported model in place, without retraining it.

The temperature goes into the ONNX graph, the threshold and the arousal/valence mapping into its
metadata, the figures into the summary, report and model card (:mod:`ser_training.calibration.fit`
chooses them). ONNX Runtime only: no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime

from ser_features.model_metadata import ModelMetadata
from ser_training.calibration.affect_heads import learned_arousal_wins
from ser_training.calibration.fit import (
    calibration_section,
    held_out_corpus_calibration,
    window_probabilities,
)
from ser_training.calibration.shifted import shifted_set
from ser_training.calibration.temperature import tempered
from ser_training.data.corpora import scan_data_dir
from ser_training.data.splits import split_by_speaker
from ser_training.features.cache import FeatureCache
from ser_training.features.windows import WindowSet, assemble
from ser_training.job import TrainingFailed, make_metadata, stored_summary, write_reports
from ser_training.model.export import calibrate_graph, write_metadata


def calibrate_exported(
    out_dir: Path, data_dir: Path, cache_dir: Path, workers: int | None = None,
    runs_dir: Path | None = None, recipe: str = "baseline",
) -> dict:  # fmt: skip
    """Calibrate ``out_dir/ser_model.onnx`` in place and merge the figures into its summary;
    with ``runs_dir``, add held-out-corpus figures from the comparison's runs of ``recipe``.

    Returns the summary's new "calibration" section.
    """
    summary = stored_summary(out_dir)
    if "refit" in summary:
        raise TrainingFailed(
            f"{summary['model_version']} is a refit on every speaker (ser-train refit): its "
            "validation and test speakers are training speakers, so no calibration can be "
            "fitted or measured on them; calibrate the protocol run, then refit"
        )
    model_path = out_dir / "ser_model.onnx"
    proto = onnx.load(str(model_path))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    labels = metadata.labels
    previous = float(metadata.calibration.get("temperature", 1.0))
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    split = split_by_speaker(scan_data_dir(data_dir).utterances)
    cache = FeatureCache(cache_dir, metadata.feature_config)
    failures = cache.ensure([(u.path, 0) for u in (*split.validation, *split.test)], workers)
    if failures:
        raise TrainingFailed(f"feature extraction failed: {failures[:5]}")

    def raw(windows: WindowSet) -> np.ndarray:
        # A calibrated graph is undone exactly: softmax(T0 · log p) restores the raw output.
        return tempered(window_probabilities(session, windows.features), 1.0 / previous)

    validation = assemble(split.validation, cache, labels)
    learned_arousal = learned_arousal_wins(runs_dir, recipe, labels)
    section = calibration_section(
        raw, validation, split.test, cache, labels, out_dir / "evaluation",
        shifted_set(runs_dir, recipe, len(labels)), learned_arousal,
    )  # fmt: skip
    temperature = section["calibration"]["temperature"]
    calibrate_graph(proto, temperature)
    check = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    expected = tempered(raw(validation)[:64], temperature)
    if not np.max(np.abs(expected - window_probabilities(check, validation.features[:64]))) <= 1e-4:
        raise TrainingFailed("the calibrated graph does not reproduce tempered probabilities")
    if runs_dir is not None and runs_dir.is_dir():
        held_out = held_out_corpus_calibration(
            runs_dir, recipe, labels, learned_arousal=learned_arousal
        )
        if held_out:
            section["held_out_corpora"] = held_out
            section["held_out_note"] = (
                f"Held-out corpora: the comparison's '{recipe}' runs ({runs_dir.as_posix()}), each "
                "fold trained without the corpus, its temperature fitted on its own validation "
                "speakers and the other corpora's held-out predictions (never its own), its "
                "threshold by the same rule on the same sets, scored on the corpus's non-test speakers; "
                "utterance-level temperature; pooled over the runs found."
            )
    summary["calibration"] = section
    write_metadata(proto, make_metadata(summary), model_path)
    write_reports(summary, out_dir)
    return section
