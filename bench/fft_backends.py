"""Which FFT should the feature path use? Per-window feature time with the spectrum computed
by numpy in float32 (what every model so far was trained with), numpy in float64, and
scipy.fft in float32 (``FeatureConfig(fft="scipy")``), and how far each moves the features.

A candidate that changes the numbers needs a feature-version bump and a retrained model
before it can be served (issue 13), so this is a measurement, not a switch:

    python -m bench.fft_backends        # writes bench/results/fft_backends.md
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from bench.common import CLIP_S, machine, speech_like

ITERATIONS = 400
ROUNDS = 3  # candidates take turns, so load on the machine falls on all of them alike
RESULTS = Path(__file__).parent / "results" / "fft_backends.md"


def _numpy_float64(a: np.ndarray, n: int | None = None, axis: int = -1) -> np.ndarray:
    return np.fft.rfft(np.asarray(a, dtype=np.float64), n=n, axis=axis)


def _extractors() -> dict[str, object]:
    """One extractor per candidate; numpy-float64 is not a config option, so its extractor
    is built with that spectrum function in place of the config's."""
    from ser_features import FeatureConfig, FeatureExtractor

    float64 = mock.patch("ser_features.features.spectrum_function", return_value=_numpy_float64)
    with float64:
        numpy_double = FeatureExtractor(FeatureConfig())
    return {
        "numpy, float32 (fft='numpy': every model so far)": FeatureExtractor(FeatureConfig()),
        "numpy, float64 (not a config option)": numpy_double,
        "scipy.fft, float32 (fft='scipy', feature version 4)": FeatureExtractor(
            FeatureConfig(fft="scipy")
        ),
    }


def run(iterations: int = ITERATIONS) -> dict[str, dict[str, float]]:
    from ser_features import FeatureConfig

    config = FeatureConfig()
    window = speech_like(CLIP_S, config.sample_rate)[: config.window_samples]
    extractors = _extractors()
    reference = next(iter(extractors.values())).window_features(window)
    times: dict[str, list[float]] = {name: [] for name in extractors}
    differences = {
        name: float(np.max(np.abs(extractor.window_features(window) - reference)))
        for name, extractor in extractors.items()
    }
    for _ in range(ROUNDS):
        for name, extractor in extractors.items():
            for _ in range(iterations):
                started = time.perf_counter()
                extractor.window_features(window)
                times[name].append(time.perf_counter() - started)
    return {
        name: {"p50_ms": float(np.median(t) * 1e3), "max_abs_difference": differences[name]}
        for name, t in times.items()
    }


def main() -> None:
    results = run()
    lines = [
        "# FFT candidates for the feature path",
        "",
        f"Machine: {machine()}  ",
        f"Command: `python -m bench.fft_backends` ({ROUNDS} rounds × {ITERATIONS} calls each)  ",
        f"Input: one {CLIP_S:g}-s speech-like window at 16 kHz, default feature config, one thread",
        "",
        "| spectrum computed by | window features p50 | max abs difference from today's features |",
        "|---|---|---|",
        *[
            f"| {name} | {r['p50_ms']:.3f} ms | {r['max_abs_difference']:.2e} |"
            for name, r in results.items()
        ],
        "",
        "Any difference other than 0 changes the numbers a model was trained on: such a "
        "candidate needs a feature-version bump and a retrained model before it is served.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
