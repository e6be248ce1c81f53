"""Audio loading and feature extraction shared by SER training and serving.

numpy + soundfile + soxr + PyAV only: the inference API installs this without TensorFlow or
librosa.
"""

from ser_features.audio import (
    AUDIO_EXTENSIONS,
    MAX_DECODED_VALUES,
    SAMPLE_RATE,
    AudioError,
    AudioInfo,
    AudioSource,
    AudioTooLongError,
    EmptyAudioError,
    LoadedAudio,
    NonFiniteAudioError,
    SilentAudioError,
    UndecodableAudioError,
    UnsupportedSampleRateError,
    check_decoded_size,
    load_audio,
    read_audio_info,
    resample,
)
from ser_features.config import FEATURE_VERSION, FeatureConfig, FeatureConfigError
from ser_features.features import FeatureExtractor
from ser_features.pipeline import UtteranceFeatures, file_features, utterance_features
from ser_features.pooling import utterance_probabilities
from ser_features.segmentation import (
    Window,
    max_windows,
    rms_dbfs,
    split_windows,
    voiced_bounds,
)
from ser_features.silence import SILENCE_PEAK, require_voiced
from ser_features.whisper_mel import whisper_log_mel

EMOTIONS = ("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised")

__all__ = [
    "AUDIO_EXTENSIONS",
    "EMOTIONS",
    "FEATURE_VERSION",
    "MAX_DECODED_VALUES",
    "SAMPLE_RATE",
    "SILENCE_PEAK",
    "AudioError",
    "AudioInfo",
    "AudioSource",
    "AudioTooLongError",
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
    "check_decoded_size",
    "file_features",
    "load_audio",
    "max_windows",
    "read_audio_info",
    "require_voiced",
    "resample",
    "rms_dbfs",
    "split_windows",
    "utterance_features",
    "utterance_probabilities",
    "voiced_bounds",
    "whisper_log_mel",
]
