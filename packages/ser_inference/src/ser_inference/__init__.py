"""The emotion classifier: an exported ONNX model plus the feature extractor it was trained with.

Knows nothing about HTTP, so the API and offline batch jobs classify with the same code.
"""

from ser_features import AudioTooLongError
from ser_inference.affect import Calibration
from ser_inference.classifier import (
    DEFAULT_MAX_DURATION_S,
    DEFAULT_MIN_DURATION_S,
    DEFAULT_MODEL_PATH,
    AdaptationUnavailableError,
    AudioLimits,
    AudioTooShortError,
    EmotionClassifier,
    Judgement,
    ModelLoadError,
    Prediction,
    PreparedAudio,
    WindowPrediction,
    answer_fields,
    judge,
)
from ser_inference.profile import (
    DOMAIN,
    SPEAKER,
    SpeakerStats,
    Standardisation,
    standardisation,
    usability,
)

__all__ = [
    "DEFAULT_MAX_DURATION_S",
    "DEFAULT_MIN_DURATION_S",
    "DEFAULT_MODEL_PATH",
    "DOMAIN",
    "SPEAKER",
    "AdaptationUnavailableError",
    "AudioLimits",
    "AudioTooLongError",
    "AudioTooShortError",
    "Calibration",
    "EmotionClassifier",
    "Judgement",
    "ModelLoadError",
    "Prediction",
    "PreparedAudio",
    "SpeakerStats",
    "Standardisation",
    "WindowPrediction",
    "answer_fields",
    "judge",
    "standardisation",
    "usability",
]
