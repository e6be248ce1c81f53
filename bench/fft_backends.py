"""Which FFT could the feature path use? Per-window feature time with the spectrum computed
by numpy in float32 (what every model so far was trained with), numpy in float64, and
scipy.fft in float32, and how far each moves the features.

A candidate that changes the numbers needs a feature-version bump and a retrained model
before it can be served (issue 13), so this is a measurement, not a switch:

    python -m bench.fft_backends        # writes bench/results/fft_backends.md
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    return _NUMPY_RFFT(np.asarray(a, dtype=np.float64), n=n, axis=axis)


_NUMPY_RFFT = np.fft.rfft


def _candidates() -> dict[str, Callable | None]:
    import scipy.fft

    return {
        "numpy, float32 (today)": None,
        "numpy, float64": _numpy_float64,
        "scipy.fft, float32": scipy.fft.rfft,
    }


@contextmanager
def _spectrum(rfft: Callable | None) -> Iterator[None]:
    """The feature path with its ``np.fft.rfft`` replaced for the duration."""
    if rfft is None:
        yield
        return
    with mock.patch.object(np.fft, "rfft", rfft):
        yield


def run(iterations: int = ITERATIONS) -> dict[str, dict[str, float]]:
    from ser_features import FeatureConfig, FeatureExtractor

    config = FeatureConfig()
    extractor = FeatureExtractor(config)
    window = speech_like(CLIP_S, config.sample_rate)[: config.window_samples]
    reference = extractor.window_features(window)
    times: dict[str, list[float]] = {name: [] for name in _candidates()}
    differences = {}
    for _ in range(ROUNDS):
        for name, rfft in _candidates().items():
            with _spectrum(rfft):
                differences[name] = float(
                    np.max(np.abs(extractor.window_features(window) - reference))
                )
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
