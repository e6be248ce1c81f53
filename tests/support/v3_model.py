"""A Model v3 graph with a randomly initialised head, exported as training exports it.

Whisper log-mel windows (batch, 300, 80) → frozen Whisper encoder → selected layers average-
pooled → head (``ser_training.model.network.build_model``) → probabilities, as one ONNX graph
(``encoder_serving_model``, ``keras_to_onnx``, ``write_metadata``) whose metadata carries the
encoder section with the graph's :func:`ser_encoders.graph_sha256`. The tests build one on a tiny random encoder;
``bench.v3_model`` builds one on the real pinned encoder, so serving can be measured before a
trained head exists. The head's weights are random: the answers mean nothing, the cost is the
real one.

Needs TensorFlow (imported when called, so that importing this module does not).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ser_encoders import EncoderSpec, WhisperEncoderWeights, layer_names
from ser_encoders.graph import encoder_initializers
from ser_encoders.whisper import CONV_STRIDE
from ser_features import EMOTIONS, FeatureConfig, whisper_log_mel
from ser_features.model_metadata import KEY_ENCODER, EncoderMetadata, ModelMetadata
from tests.support.audio import harmonic_tone

V3_CONFIG = FeatureConfig(front_end="whisper")  # 3-s windows every 1.5 s: (300, 80) each


def log_mel_windows(n: int, seed: int = 0) -> np.ndarray:
    """``n`` 3-s vowel-like clips as the v3 model's input, (n, 300, 80) float32."""
    return np.stack(
        [whisper_log_mel(harmonic_tone(3.0, f0_hz=110.0 + 40 * i, seed=seed + i)).T
         for i in range(n)]
    )  # fmt: skip


def v3_metadata(
    spec: EncoderSpec, layers: Sequence[int], pool: int, model_version: str
) -> ModelMetadata:
    """Metadata of a random-head v3 model on ``spec``'s encoder, layers given by index; the
    export's ``write_metadata`` fills in the graph hash."""
    names = layer_names(spec.n_layers)
    return ModelMetadata(
        labels=EMOTIONS,
        feature_config=V3_CONFIG,
        model_version=model_version,
        metrics={"protocol": "none: randomly initialised head"},
        training_data={"corpora": []},
        license="test only",
        encoder=EncoderMetadata.from_spec(spec.as_dict(), tuple(names[i] for i in layers), pool),
    )


def export_v3_model(
    path: Path,
    weights: WhisperEncoderWeights,
    spec: EncoderSpec,
    *,
    layers: Sequence[int],
    pool: int,
    head: dict | None = None,
    parity_batch: np.ndarray | None = None,
    model_version: str = "v3-random-head",
    seed: int = 0,
) -> tuple[Path, float | None]:
    """Export encoder + a random head to ``path`` (and its JSON sidecar).

    Parameters
    ----------
    weights, spec : the encoder and the spec it was loaded with (its sha256 goes to metadata)
    layers : indices into ``layer_names(spec.n_layers)`` the head reads
    pool : encoder steps averaged into one
    head : ``ModelHyperparameters`` fields (defaults: the training default)
    parity_batch : (batch, 300, 80) float32 log-mel windows; when given, Keras and ONNX Runtime
        must agree within ``export.PARITY_TOLERANCE`` (1e-4) on it, as at a real export

    Returns
    -------
    (path, the largest |Keras − ONNX Runtime| probability difference, or None)
    """
    import keras

    from ser_training.model.encoder_graph import encoder_serving_model
    from ser_training.model.export import check_parity, keras_to_onnx, write_metadata
    from ser_training.model.network import ModelHyperparameters, build_model

    keras.utils.set_random_seed(seed)
    n_frames, _ = V3_CONFIG.input_shape
    n_steps = n_frames // CONV_STRIDE // pool  # encoder steps after pooling
    network = build_model(
        (len(layers), n_steps, weights.d_model),
        len(EMOTIONS),
        ModelHyperparameters(**(head or {})),
    )
    model = encoder_serving_model(network, weights, layers, pool, n_frames)
    proto = keras_to_onnx(model, V3_CONFIG.input_shape)
    difference = None if parity_batch is None else check_parity(model, proto, parity_batch)
    write_metadata(proto, v3_metadata(spec, layers, pool, model_version), path)
    return path, difference


def with_encoder_section(source: Path, target: Path, change: Callable[[dict], dict | None]) -> Path:
    """A copy of ``source`` whose ``ser.encoder`` metadata is ``change(section)`` (None drops
    it); the graph is untouched."""
    import onnx

    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    section = change(json.loads(props.pop(KEY_ENCODER)))
    if section is not None:
        props[KEY_ENCODER] = json.dumps(section)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(target))
    return target


def with_tampered_encoder_weight(source: Path, target: Path) -> Path:
    """A copy of ``source`` with one value of one encoder weight nudged by 1e-3 (a graph that
    still runs, and answers almost the same); its metadata is untouched."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(source))
    encoder = {t.name for t in encoder_initializers(proto) if t.data_type == 1 and len(t.data) > 4}
    initializer = next(i for i in proto.graph.initializer if i.name in encoder)
    values = numpy_helper.to_array(initializer).copy()
    values.flat[0] += np.float32(1e-3)
    initializer.CopyFrom(numpy_helper.from_array(values, initializer.name))
    onnx.save(proto, str(target))
    return target


def export_adapted_v3_model(
    source: Path, target: Path, *, min_windows: int = 2, max_dominant_share: float = 1.0,
    temperature: float = 1.0, std_floor: float = 1e-3, seed: int = 0,
    domain_min_windows: int = 3, domain_prior_windows: int = 2, min_answer_entropy: float = 0.0,
) -> Path:  # fmt: skip
    """A copy of the v3 model ``source`` with a random speaker-adapted head (issue 24) and an
    ``adaptation`` metadata section with this usable rule; the plain head is untouched.
    ``domain_min_windows`` 0: a head not trained for domain profiles (issue 30)."""
    import onnx

    from ser_features.model_metadata import AdaptationMetadata
    from ser_training.model.adaptation_graph import (
        add_speaker_features_for,
        write_adapted_model,
    )

    proto = onnx.load(str(source))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    n_features = add_speaker_features_for(proto, metadata)
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.3, (n_features, len(metadata.labels))).astype(np.float32)
    bias = rng.normal(0.0, 0.1, len(metadata.labels)).astype(np.float32)
    adaptation = AdaptationMetadata(
        n_features=n_features, layers=metadata.encoder.layers,
        statistics="per layer: mean then std over pooled encoder steps",
        std_floor=std_floor, min_windows=min_windows, max_dominant_share=max_dominant_share,
        temperature=temperature, uncertain_below=0.3, fitted_on="none: random test head",
        domain_min_windows=domain_min_windows, domain_prior_windows=domain_prior_windows,
        min_answer_entropy=min_answer_entropy,
    )  # fmt: skip
    return write_adapted_model(proto, metadata, weights, bias, adaptation, target)
