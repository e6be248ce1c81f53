"""Pretrained speech encoders under the SER head (issue 18): one implementation for training,
the API and the batch job.

numpy only (and protobuf, which onnxruntime brings, for ``ser_encoders.graph``: the encoder's
weights as they sit in an exported graph). ``ser_encoders.keras_whisper`` (TensorFlow/Keras,
imported only by the training job) builds the same encoder as a Keras model from the same
weights.

Typical use::

    from ser_encoders import encode, load_whisper_encoder
    from ser_features import whisper_log_mel

    weights = load_whisper_encoder()  # verifies the pinned file's sha256
    layers = encode(weights, whisper_log_mel(samples))  # (6, n_frames // 2, 384)
"""

from ser_encoders.ct2 import Ct2FormatError, Ct2Model, read_ct2_model, write_ct2_model
from ser_encoders.graph import ENCODER_SCOPE, EncoderGraphError, graph_sha256
from ser_encoders.weights import (
    ENCODERS,
    WHISPER_TINY_EN,
    EncoderSpec,
    EncoderWeightsError,
    load_whisper_encoder,
    model_path,
    sha256_file,
    verify_weights,
)
from ser_encoders.whisper import (
    WhisperEncoderWeights,
    encode,
    encoder_weights,
    layer_names,
    sinusoids,
)

__all__ = [
    "ENCODERS",
    "ENCODER_SCOPE",
    "WHISPER_TINY_EN",
    "Ct2FormatError",
    "Ct2Model",
    "EncoderGraphError",
    "EncoderSpec",
    "EncoderWeightsError",
    "WhisperEncoderWeights",
    "encode",
    "encoder_weights",
    "graph_sha256",
    "layer_names",
    "load_whisper_encoder",
    "model_path",
    "read_ct2_model",
    "sha256_file",
    "sinusoids",
    "verify_weights",
    "write_ct2_model",
]
