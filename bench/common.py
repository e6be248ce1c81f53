"""Shared pieces: which model to time, test clips, percentiles, machine description."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "models" / "ser_model.onnx"
CLIP_S = 3.0  # s: the reference clip length of the targets
CLIP_RATE = 48_000  # Hz: a typical browser / phone recording rate (exercises resampling)
# A second model to time beside the first in the same run (python -m bench.run_all
# --compare-model, which sets it for its subprocesses): e.g. Model v3 against the shipped CNN.
COMPARE_ENV = "SER_BENCH_COMPARE_MODEL"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}"
    )


def model_path() -> tuple[Path, str]:
    """The model named by SER_BENCH_MODEL, else the shipped model if exported, else a tiny
    model with the production FeatureConfig."""
    chosen = os.environ.get("SER_BENCH_MODEL")
    if chosen:
        if not Path(chosen).is_file():
            raise SystemExit(f"SER_BENCH_MODEL={chosen}: no such model file")
        return Path(chosen), f"{chosen} (SER_BENCH_MODEL)"
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL, f"shipped {SHIPPED_MODEL.relative_to(REPO)}"
    sys.path.insert(0, str(REPO))
    from ser_features import FeatureConfig
    from tests.support.tiny_model import build_tiny_model, tiny_metadata

    path = Path(tempfile.mkdtemp(prefix="ser-bench-")) / "bench_model.onnx"
    build_tiny_model(path, tiny_metadata(FeatureConfig()))
    return path, "tiny test model (mean-pool + linear) with the production FeatureConfig()"


def describe(path: Path) -> str:
    """``path`` (relative to the repository when inside it) with its size in MB."""
    shown = path.resolve().relative_to(REPO) if path.resolve().is_relative_to(REPO) else path
    return f"{shown} ({path.stat().st_size / 1e6:.2f} MB)"


def compare_model() -> tuple[Path, str] | None:
    """The model named by $SER_BENCH_COMPARE_MODEL, or None when unset or empty.

    Raises FileNotFoundError for a path that is not a file: a benchmark must not silently time
    one model when it was asked for two.
    """
    value = os.environ.get(COMPARE_ENV, "")
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(
            f"{COMPARE_ENV}={value}: no such model (python -m bench.v3_model builds a v3-shaped one)"
        )
    return path, describe(path)


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Vowel-like harmonic tone with vibrato and noise, shape (n,), float32, peak 0.5."""
    sys.path.insert(0, str(REPO))
    from tests.support.audio import harmonic_tone

    return harmonic_tone(seconds, rate=rate, seed=seed)


def wav(samples: np.ndarray, rate: int) -> bytes:
    sys.path.insert(0, str(REPO))
    from tests.support.audio import wav_bytes

    return wav_bytes(samples, rate=rate)


def percentiles(seconds: list[float], high: int = 99) -> dict[str, float]:
    """p50, p``high`` and mean in milliseconds of wall times in seconds."""
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        f"p{high}_ms": round(float(np.percentile(ms, high)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "n": len(ms),
    }


def write_report(
    stem: str, result: dict, title: str, header: str, rows: list[str],
    folder: Path = REPO / "bench" / "results",
) -> None:  # fmt: skip
    """``<folder>/<stem>.json`` (the whole ``result``) and ``.md``: the title, the
    protocol, date, machine and command, then a Markdown table (``header`` with its rule
    line, one ``rows`` line per row). ``result`` holds ``protocol``, ``date``, ``machine``
    and ``command``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    columns = header.count("|") - 1
    lines = [
        f"# {title}", "", result["protocol"], "",
        f"{result['date']}, {result['machine']}, `{result['command']}`", "",
        header, "|" + "---|" * columns, *rows,
    ]  # fmt: skip
    (folder / f"{stem}.md").write_text("\n".join(lines) + "\n")
