"""Audio loading and feature extraction shared by SER training and serving.

numpy + soundfile + soxr only: the inference API installs this without TensorFlow or librosa.
"""

from ser_features.audio import (
    SAMPLE_RATE,
    AudioError,
    AudioInfo,
    EmptyAudioError,
    LoadedAudio,
    NonFiniteAudioError,
    SilentAudioError,
    UndecodableAudioError,
    UnsupportedSampleRateError,
    load_audio,
    read_audio_info,
    resample,
)
from ser_features.config import FEATURE_VERSION, FeatureConfig, FeatureConfigError
from ser_features.features import FeatureExtractor
from ser_features.pipeline import UtteranceFeatures, file_features, utterance_features
from ser_features.pooling import utterance_probabilities
from ser_features.segmentation import Window, rms_dbfs, split_windows, voiced_bounds

EMOTIONS = ("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised")

__all__ = [
    "EMOTIONS",
    "FEATURE_VERSION",
    "SAMPLE_RATE",
    "AudioError",
    "AudioInfo",
    "EmptyAudioError",
    "FeatureConfig",
    "FeatureConfigError",
    "FeatureExtractor",
    "LoadedAudio",
    "NonFiniteAudioError",
    "SilentAudioError",
    "UndecodableAudioError",
    "UnsupportedSampleRateError",
    "UtteranceFeatures",
    "Window",
    "file_features",
    "load_audio",
    "read_audio_info",
    "resample",
    "rms_dbfs",
    "split_windows",
    "utterance_features",
    "utterance_probabilities",
    "voiced_bounds",
]
