"""Server-side time for one 3-s clip: decode + resample + features + inference, one thread.

With ``--compare`` (a second model in $SER_BENCH_COMPARE_MODEL): both models on the same clip,
taking turns, at 1 and 2 ONNX Runtime threads, and the second's p50/p99 as a ratio of the
first's.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from bench.common import (
    CLIP_RATE,
    CLIP_S,
    COMPARE_ENV,
    compare_model,
    describe,
    model_path,
    percentiles,
    speech_like,
    wav,
)

WARMUP = 20
ITERATIONS = 500
COMPARE_ITERATIONS = 300  # per model and thread count (a Whisper-encoder clip costs ~30 ms)
COMPARE_BLOCK = 10  # calls to one model before the other takes its turn
COMPARE_THREADS = (1, 2)  # ONNX Runtime intra-op threads (spinning off, as the classifier sets)


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


def compare(iterations: int = COMPARE_ITERATIONS) -> dict:
    """The first model (:func:`model_path`) and the second ($SER_BENCH_COMPARE_MODEL) on one
    3-s 48-kHz clip, in alternating blocks of COMPARE_BLOCK calls so that the machine's drift
    (other processes, frequency) falls on both alike."""
    from ser_inference import AudioLimits, EmotionClassifier

    second = compare_model()
    if second is None:
        raise SystemExit(f"--compare needs {COMPARE_ENV}=path/to/model.onnx")
    first, _ = model_path()
    paths = {"first": (first, describe(first)), "second": second}
    limits = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)
    data = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    results = {}
    for threads in COMPARE_THREADS:
        classifiers = {k: EmotionClassifier.load(p, threads=threads) for k, (p, _) in paths.items()}
        times: dict[str, list[float]] = {k: [] for k in classifiers}
        inference: dict[str, list[float]] = {k: [] for k in classifiers}
        for classifier in classifiers.values():
            for _ in range(WARMUP):
                classifier.predict(data, limits)
        for _ in range(iterations // COMPARE_BLOCK):
            for name, classifier in classifiers.items():
                for _ in range(COMPARE_BLOCK):
                    started = time.perf_counter()
                    prediction = classifier.predict(data, limits)
                    times[name].append(time.perf_counter() - started)
                    inference[name].append(prediction.inference_ms)
        row = {
            name: percentiles(times[name])
            | {"inference_p50_ms": round(sorted(inference[name])[len(inference[name]) // 2], 3)}
            for name in classifiers
        }
        for stat in ("p50_ms", "p99_ms"):
            row[f"{stat[:3]}_ratio"] = round(row["second"][stat] / row["first"][stat], 2)
        results[f"{threads} thread{'s' if threads > 1 else ''}"] = row
    return {
        "name": "server-side, 3-s clip, two models taking turns",
        "input": f"{CLIP_S:g}-s 16-bit mono WAV at {CLIP_RATE // 1000} kHz",
        "command": "python -m bench.server_side --compare",
        "models": {name: description for name, (_, description) in paths.items()},
        "results": results,
    }


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", action="store_true", help=f"time ${COMPARE_ENV} beside it")
    print(json.dumps(compare() if parser.parse_args().compare else run(), indent=2))
