"""``ser-train refit``: the shipped plain head learns from every speaker we have (issue 30).

``ser-train train`` is the protocol: it trains on the training speakers, stops early on the
validation speakers, scores the test speakers and calibrates on validation speakers and
held-out corpora. Those figures are the ones the model reports. The refit then trains the same
recipe, with the same seed, for the protocol's best epoch count on *every* speaker of the
corpora the recipe uses (validation and test speakers included), and ships those weights.

What it keeps from the protocol, because no speaker is left to measure the refit on: the
calibration (temperature, "not sure" threshold, arousal/valence mapping) and every reported
figure. What it keeps from ``ser-train adapt``: the normalised head, which reads the frozen
encoder only and so is carried onto the new graph unchanged. The summary, card and metadata say
that the weights are the refit's and the figures the protocol's.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ser_features.model_metadata import AdaptationMetadata, ModelMetadata
from ser_training.data.splits import Split
from ser_training.features.encoder_cache import EncoderCache
from ser_training.features.windows import assemble
from ser_training.job import (
    JobConfig,
    TrainingFailed,
    feature_cache,
    fit_split,
    make_metadata,
    scan,
    serving_model,
    stored_summary,
    write_reports,
)
from ser_training.model.adaptation_graph import (
    add_speaker_features_for,
    read_adapted_head,
    write_adapted_model,
)

CALIBRATION_NOTE = (
    "the protocol run's (temperature, 'not sure' threshold, arousal/valence mapping), fitted on "
    "its validation speakers and held-out corpora"
)


@dataclass(frozen=True)
class CarriedHead:
    """The normalised head of a model (``ser-train adapt``), to be written onto its refit.

    weights : (n_features, n_labels); bias : (n_labels,)
    """

    weights: np.ndarray
    bias: np.ndarray
    rule: AdaptationMetadata


def carried_head(model_path: Path) -> CarriedHead | None:
    """The adapted head in ``model_path``, or None if the model has none."""
    proto = onnx.load(str(model_path))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    if metadata.adaptation is None:
        return None
    weights, bias = read_adapted_head(proto)
    return CarriedHead(weights, bias, metadata.adaptation)


def refit_section(split: Split, windows: int, epochs: int, seed: int, seconds: float) -> dict:
    """What the summary records of the refit (model card, metadata ``training_data``)."""
    speakers = split.describe()["train"]
    return {
        "speakers": speakers,
        "n_speakers": sum(len(ids) for ids in speakers.values()),
        "files": len(split.train),
        "windows": windows,
        "epochs": epochs,
        "epochs_from": "the protocol run's best epoch (early stopping on its validation speakers)",
        "seed": seed,
        "calibration": CALIBRATION_NOTE,
        "seconds": round(seconds, 1),
    }


def run_refit(config: JobConfig, *, epochs: int | None = None, verbose: int = 2) -> dict:
    """Refit ``config.out_dir``'s model on every speaker and write it there (graph, sidecar,
    summary, report, card); returns the new summary.

    ``config`` gives the data, cache, paths and workers; the recipe and seed are the stored
    protocol run's. ``epochs`` overrides the protocol's best epoch (not needed to ship).

    Raises
    ------
    TrainingFailed
        No protocol run (``ser-train train``) or no calibration in it, no data, or an export
        that does not reproduce the model.
    """
    from ser_training.model.export import ParityError, export_model

    started = time.time()
    summary = stored_summary(config.out_dir)
    temperature = summary.get("calibration", {}).get("calibration", {}).get("temperature")
    if temperature is None:
        raise TrainingFailed(
            "the protocol run has no calibration to carry over (it had no validation "
            "speakers): the refit would ship uncalibrated probabilities"
        )
    config = dataclasses.replace(config.with_recipe(summary["recipe"]), seed=summary["seed"])
    epochs = epochs or int(summary["best_epoch"])
    if epochs < 1:
        raise TrainingFailed(f"epochs must be at least 1, the protocol stored {epochs}")
    model_path = config.out_dir / "ser_model.onnx"
    head = carried_head(model_path) if model_path.exists() else None

    found = scan(config)
    everyone = Split(train=list(found.utterances), validation=[], test=[])
    cache = feature_cache(config)
    # No validation speakers: fit_split trains exactly `epochs` epochs (no early stopping).
    result, train, _, _ = fit_split(
        everyone, cache, dataclasses.replace(config, epochs=epochs), verbose=verbose
    )
    # Named after the protocol run whose figures it reports (a refit of a refit keeps it).
    protocol_version = summary.get("protocol_model_version", summary["model_version"])
    summary = {
        **{k: v for k, v in summary.items() if k != "exported_model_scores"},  # old weights'
        "model_version": config.model_version or f"{protocol_version}-refit",
        "protocol_model_version": protocol_version,
        "refit": refit_section(everyone, len(train.labels), epochs, config.seed, 0.0),
    }
    inputs = cache.features if isinstance(cache, EncoderCache) else cache
    parity_batch = assemble(everyone.train[:64], inputs, config.labels).features[:64]
    try:
        onnx_path, difference = export_model(
            serving_model(result.model, cache), make_metadata(summary), parity_batch,
            config.out_dir, temperature=temperature,
        )  # fmt: skip
    except ParityError as error:
        raise TrainingFailed(str(error)) from error
    if head is not None:
        proto = onnx.load(str(onnx_path))
        metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
        add_speaker_features_for(proto, metadata)
        write_adapted_model(proto, metadata, head.weights, head.bias, head.rule, onnx_path)
    summary["export"] = {
        "onnx": str(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "keras_onnx_max_abs_diff": difference,
    }
    summary["refit"]["seconds"] = round(time.time() - started, 1)
    write_reports(summary, config.out_dir)
    return summary
