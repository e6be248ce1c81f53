"""Where a 3-s answer spends its time (issue 31, step 1): ONNX Runtime's own profile of the
graph, node by node and summed by operator type, and the stages of one ``/predict`` of a 3-s
48-kHz WAV (decode, features, graph, and what FastAPI, the multipart form and the response add,
in process without a socket), each the median of ``--runs`` runs on one ONNX Runtime thread.
The CPU's vector extensions are named because they decide which kernels ONNX Runtime runs
(int8 pays only with VNNI; AVX-512 doubles fp32 width).

Usage: python -m bench.graph_profile [--runs 30]; SER_BENCH_MODEL picks the model (default:
the shipped one). Writes bench/results/graph_profile.json and .md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.adaptation_api import service
from bench.common import (
    CLIP_RATE,
    CLIP_S,
    REPO,
    describe,
    machine,
    model_path,
    speech_like,
    wav,
    write_report,
)

FLAGS = ("sse4_2", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Which of :data:`FLAGS` this CPU has (empty where /proc/cpuinfo is absent)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [flag for flag in FLAGS if flag in present]
    except OSError:
        pass
    return []


def node_times(model: Path, features: np.ndarray, runs: int) -> dict:
    """ONNX Runtime's profile of ``runs`` runs of the plain output on ``features`` (one
    thread; a first, unprofiled run allocates): ms per run by operator type, and the runs'
    median wall time.

    features : (1, n_frames, n_mels) float32, one window as the classifier feeds it
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: features}
        session.run(["probabilities"], feed)
        for _ in range(runs):
            session.run(["probabilities"], feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    sessions = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    first_end = sessions[0]["ts"] + sessions[0]["dur"]  # the warm-up run is left out
    by_op: dict[str, float] = defaultdict(float)
    for event in events:
        if (
            event.get("cat") == "Node"
            and event["name"].endswith("_kernel_time")
            and event["ts"] >= first_end
        ):
            by_op[event["args"]["op_name"]] += event["dur"] / 1e3 / runs  # µs → ms per run
    total = sum(by_op.values())
    return {
        "model_run_ms": round(statistics.median(e["dur"] for e in sessions[1:]) / 1e3, 3),
        "by_op": {
            op: {"ms": round(ms, 3), "share": round(ms / total, 4)}
            for op, ms in sorted(by_op.items(), key=lambda item: -item[1])
        },
    }


def _median_ms(func, runs: int) -> float:
    func()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e3, 3)


def stage_times(model: Path, clip: bytes, runs: int) -> dict:
    """Median ms of each stage of a ``/predict`` of ``clip``: decode (header and samples),
    features (the rest of ``prepare``), graph (``run`` on its windows) and the in-process
    HTTP layer (the request's wall time less the work the answer reports)."""
    from ser_features import load_audio
    from ser_inference import AudioLimits, EmotionClassifier

    classifier = EmotionClassifier.load(model, threads=1)
    limits = AudioLimits()
    prepared = classifier.prepare(clip, limits)
    decode = _median_ms(lambda: load_audio(clip), runs)
    prepare = _median_ms(lambda: classifier.prepare(clip, limits), runs)
    graph = _median_ms(lambda: classifier.run(prepared.utterance.features), runs)
    overheads = []
    with service(model) as client:
        files = {"file": ("clip.wav", clip, "audio/wav")}
        client.post("/predict", files=files).raise_for_status()
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.post("/predict", files=files)
            elapsed_ms = (time.perf_counter() - started) * 1e3
            answer.raise_for_status()
            timing = answer.json()["timing"]
            overheads.append(elapsed_ms - timing["features_ms"] - timing["inference_ms"])
    return {
        "windows": len(prepared.utterance.voiced),
        "decode_ms": decode,
        "features_ms": round(prepare - decode, 3),
        "graph_ms": graph,
        "http_in_process_ms": round(statistics.median(overheads), 3),
    }


def profile(model: Path, runs: int) -> dict:
    from ser_inference import AudioLimits, EmotionClassifier

    clip = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    prepared = EmotionClassifier.load(model, threads=1).prepare(clip, AudioLimits())
    window = prepared.utterance.features[:1].astype(np.float32)
    return {"nodes": node_times(model, window, runs), "stages": stage_times(model, clip, runs)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    model, _ = model_path()
    measured = profile(model, args.runs)
    flags = cpu_flags()
    result = {
        "protocol": __doc__.split("\n\n")[0].replace("\n", " "),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{machine()}; flags: {' '.join(flags) or 'unknown'}",
        "command": f"python -m bench.graph_profile --runs {args.runs}",
        "model": describe(model),
        "table": measured,
    }
    stages, nodes = measured["stages"], measured["nodes"]
    rows = [f"| stage: {name.removesuffix('_ms').replace('_', ' ')} | {stages[name]:.2f} | |"
            for name in ("decode_ms", "features_ms", "graph_ms", "http_in_process_ms")]  # fmt: skip
    rows.append(f"| graph, ONNX Runtime's model_run (one window) | {nodes['model_run_ms']:.2f} | |")
    rows += [f"| node: {op} | {cell['ms']:.2f} | {cell['share']:.1%} |"
             for op, cell in nodes["by_op"].items()]  # fmt: skip
    write_report(
        "graph_profile", result,
        f"Where a 3-s answer spends its time ({describe(model)})",
        "| what | ms (median) | share of node time |", rows, folder=args.out,
    )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
