"""The seed's way of serving, as the baseline: librosa at 22,050 Hz + Keras predict per request.

The Keras model is a Conv1D of the same order of size as the seed's, with random weights:
only its speed matters here. Imports TensorFlow and librosa, which the API never does.
"""

from __future__ import annotations

import io
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench.common import CLIP_RATE, CLIP_S, percentiles, speech_like, wav

SEED_RATE = 22_050  # Hz: librosa.load's default, which the seed relied on
N_MFCC = 40
ITERATIONS = 100


def seed_features(data: bytes):
    import librosa

    samples, rate = librosa.load(io.BytesIO(data), sr=SEED_RATE)
    zcr = librosa.feature.zero_crossing_rate(samples)
    rms = librosa.feature.rms(y=samples)
    mfcc = librosa.feature.mfcc(y=samples, sr=rate, n_mfcc=N_MFCC)
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=samples, sr=rate))
    return np.concatenate([zcr, rms, mfcc, mel], axis=0).T[None].astype(np.float32)


def build_keras_model(input_shape: tuple[int, int]):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv1D(64, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.Conv1D(128, 5, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(7, activation="softmax"),
        ]
    )
    return model


def run(iterations: int = ITERATIONS) -> dict:
    data = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    started = time.perf_counter()
    first_features = seed_features(data)  # numba compiles librosa's kernels here
    first_call_s = time.perf_counter() - started
    model = build_keras_model(first_features.shape[1:])
    model.predict(first_features, verbose=0)
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        model.predict(seed_features(data), verbose=0)
        times.append(time.perf_counter() - started)
    return {
        "name": "baseline: librosa 22,050 Hz + Keras model.predict per request",
        "input": f"{CLIP_S:g}-s 16-bit mono WAV at {CLIP_RATE // 1000} kHz; Keras Conv1D "
        f"({model.count_params()} params, random weights), input {first_features.shape[1:]}",
        "command": "python -m bench.baseline",
        "results": percentiles(times) | {"first_call_s": round(first_call_s, 2)},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
