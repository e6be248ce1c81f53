"""Server-side time for one 3-s clip: decode + resample + features + inference, one thread."""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from bench.common import CLIP_RATE, CLIP_S, model_path, percentiles, speech_like, wav

WARMUP = 20
ITERATIONS = 500


def run(iterations: int = ITERATIONS) -> dict:
    from ser_inference import AudioLimits, EmotionClassifier

    path, model_desc = model_path()
    classifier = EmotionClassifier.load(path, threads=1)
    limits = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)
    results = {}
    for rate in (CLIP_RATE, 16_000):
        data = wav(speech_like(CLIP_S, rate), rate)
        for _ in range(WARMUP):
            classifier.predict(data, limits)
        times, features, inference = [], [], []
        for _ in range(iterations):
            started = time.perf_counter()
            prediction = classifier.predict(data, limits)
            times.append(time.perf_counter() - started)
            features.append(prediction.features_ms)
            inference.append(prediction.inference_ms)
        results[f"{rate // 1000}kHz"] = percentiles(times) | {
            "features_p50_ms": round(sorted(features)[len(features) // 2], 3),
            "inference_p50_ms": round(sorted(inference)[len(inference) // 2], 3),
        }
    return {
        "name": "server-side, 3-s clip, 1 thread",
        "input": f"{CLIP_S:g}-s 16-bit mono WAV at 48 kHz and 16 kHz; model: {model_desc}",
        "command": "python -m bench.server_side",
        "results": results,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
