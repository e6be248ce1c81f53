"""Speaker profiles (issue 24): how long an enrolment takes, and what an adapted answer costs.

Against the service in this process (``create_app`` + TestClient: routes, admission, the profile
file in a temporary folder, 1 ONNX Runtime thread), with 16-bit mono 16-kHz speech-like clips:

1. ``POST /speakers`` with ``--clips`` 3-s clips (default 30, the protocol's random_30 set):
   wall time from the request to the answer, ``--repeats`` times (a new profile each).
2. ``/predict`` and ``/predict?speaker=ID`` (the first profile of 1) on the same 3-s clip,
   ``--requests`` each (default 50) after a warm-up, taking turns (plain, adapted, adapted,
   plain, …) so that the host's drift falls on both alike: p50/p95 wall time and server-side
   inference time, and the adapted request's extra milliseconds.

The model: ``--model PATH``, else ``$SER_BENCH_MODEL``, else the shipped model. Synthetic
clips all sound alike to a trained model, so under its usable rule (at most ``max_dominant_share``
of the windows given one plain answer) their profile is refused and the speaker requests would
time the plain fallback; the report says whether the profile was usable. ``--any-profile``
times a copy whose rule accepts any profile of ``min_windows`` windows: the model's own adapted
head with that one metadata value changed, or, for a model without a head, a random one
(``tests.support.v3_model.export_adapted_v3_model``; its answers mean nothing, its cost is the
real one). Either needs ``onnx`` and ``ser_training`` (no TensorFlow).

Usage: python -m bench.speakers [--model PATH] [--any-profile] [--clips 30] [--repeats 3]
                                [--requests 50] [--tag T]
Writes bench/results/speakers[-T].json and .md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


from bench.common import CLIP_S, REPO, describe, machine, model_path, percentiles, speech_like, wav

RESULTS = REPO / "bench" / "results"
CLIPS = 30
REPEATS = 3
REQUESTS = 50
WARMUP = 5  # requests of each kind before timing
RATE = 16_000  # Hz


def any_profile_copy(source: Path, folder: Path) -> tuple[Path, str]:
    """A copy of the v3 model ``source`` in ``folder`` whose usable rule accepts any profile of
    its ``min_windows`` windows, and what it is (for the report).

    A model with an adapted head keeps it (``max_dominant_share`` set to 1 in its metadata); a
    model without one gets a random head with that rule.
    """
    import dataclasses

    import onnx

    from ser_features.model_metadata import ModelMetadata
    from ser_training.model.export import write_metadata

    proto = onnx.load(str(source))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    target = folder / f"{source.stem}_any_profile.onnx"
    if metadata.adaptation is None:
        sys.path.insert(0, str(REPO))
        from tests.support.v3_model import export_adapted_v3_model

        path = export_adapted_v3_model(source, target, max_dominant_share=1.0)
        return path, f"{describe(source)} + a random adapted head, usable from 2 windows"
    rule = dataclasses.replace(metadata.adaptation, max_dominant_share=1.0)
    write_metadata(proto, dataclasses.replace(metadata, adaptation=rule), target)
    return target, (
        f"{describe(source)}, its adapted head, the usable rule's max_dominant_share "
        f"{metadata.adaptation.max_dominant_share:g} → 1 (--any-profile)"
    )


def run(
    model: Path, *, clips: int = CLIPS, repeats: int = REPEATS, requests: int = REQUESTS,
    warmup: int = WARMUP,
) -> dict:  # fmt: skip
    """Time enrolment and plain vs adapted /predict; the results as a dict (see the module)."""
    from fastapi.testclient import TestClient

    from ser_api.config import Settings
    from ser_api.main import create_app

    enrolment = [("files", (f"clip{i}.wav", wav(speech_like(CLIP_S, RATE, seed=i), RATE),
                            "audio/wav")) for i in range(clips)]  # fmt: skip
    probe = wav(speech_like(CLIP_S, RATE, seed=10_000), RATE)
    with tempfile.TemporaryDirectory(prefix="ser-bench-speakers-") as folder:
        settings = Settings(
            _env_file=None, model_path=model, speaker_db=Path(folder) / "speakers.sqlite3",
            ort_threads=1, log_level="WARNING", log_json=True,
            max_enrol_files=max(clips, 1), max_clips_per_speaker=max(clips, 1),
            max_queue_wait_s=60.0,  # one client: nothing to shed, nothing to refuse
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            if client.get("/model").json()["adaptation"] is None:
                raise SystemExit(
                    f"model {model} has no speaker-adapted head: pass --any-profile to time a "
                    "copy with a random one"
                )
            enrol_s, profiles = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.post("/speakers", files=enrolment)
                enrol_s.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise SystemExit(f"POST /speakers: {response.status_code} {response.text}")
                profiles.append(response.json())
            profile = profiles[0]
            urls = {"plain": "/predict", "speaker": f"/predict?speaker={profile['speaker']}"}
            wall: dict[str, list[float]] = {kind: [] for kind in urls}
            inference: dict[str, list[float]] = {kind: [] for kind in urls}
            adapted: dict[str, set[bool]] = {kind: set() for kind in urls}
            for index in range(warmup + requests):
                order = list(urls) if index % 2 == 0 else list(reversed(urls))
                for kind in order:
                    started = time.perf_counter()
                    response = client.post(urls[kind], files={"file": ("probe.wav", probe)})
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(f"{urls[kind]}: {response.status_code} {response.text}")
                    if index >= warmup:
                        body = response.json()
                        wall[kind].append(elapsed)
                        inference[kind].append(body["timing"]["inference_ms"])
                        adapted[kind].add(body["adapted"])
    results = {
        kind: percentiles(wall[kind], high=95)
        | {"inference_p50_ms": round(statistics.median(inference[kind]), 3)}
        for kind in urls
    }
    return {
        "name": "speaker profiles: enrolment and /predict?speaker vs /predict",
        "input": f"{clips} × {CLIP_S:g}-s 16-bit mono WAV at {RATE // 1000} kHz to enrol; one "
        f"other {CLIP_S:g}-s clip to classify; in-process app (TestClient), 1 ORT thread",
        "command": "python -m bench.speakers",
        "model": describe(model),
        "results": {
            "enrol": {
                "clips": clips,
                "best_s": round(min(enrol_s), 3),
                "median_s": round(statistics.median(enrol_s), 3),
                "per_clip_ms": round(min(enrol_s) / max(clips, 1) * 1e3, 2),
                "repeats": repeats,
                "windows": profile["windows"],
            },
            "profile_usable": profile["usable"],
            "profile_reason": profile["reason"],
            "speaker_requests_adapted": sorted(adapted["speaker"]) == [True],
            "plain": results["plain"],
            "speaker": results["speaker"],
            "difference_ms": {
                stat: round(results["speaker"][stat] - results["plain"][stat], 3)
                for stat in ("p50_ms", "p95_ms", "inference_p50_ms")
            },
        },
    }


def markdown(report: dict) -> str:
    r = report["results"]
    enrol, plain, speaker, diff = r["enrol"], r["plain"], r["speaker"], r["difference_ms"]
    usable = (
        "usable: the speaker requests ran the adapted head"
        if r["speaker_requests_adapted"]
        else f"NOT usable ({r['profile_reason']}): the speaker requests fell back to the plain "
        "head, so their times are not the adapted head's"
    )
    return "\n".join([
        f"# {report['name']}",
        "",
        f"{report['date']}, {report['machine']}, load average {report['load_average']}.",
        f"Model: {report['model']}. {report['input']}. Profile {usable}.",
        f"Command: `{report['command']}`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| POST /speakers, {enrol['clips']} clips ({enrol['windows']} windows) | best "
        f"{enrol['best_s']} s, median {enrol['median_s']} s of {enrol['repeats']} "
        f"({enrol['per_clip_ms']} ms per clip) |",
        f"| /predict, plain | p50 {plain['p50_ms']} ms, p95 {plain['p95_ms']} ms (inference p50 "
        f"{plain['inference_p50_ms']} ms), n = {plain['n']} |",
        f"| /predict?speaker=ID | p50 {speaker['p50_ms']} ms, p95 {speaker['p95_ms']} ms "
        f"(inference p50 {speaker['inference_p50_ms']} ms), n = {speaker['n']} |",
        f"| adapted − plain | p50 {diff['p50_ms']:+} ms, p95 {diff['p95_ms']:+} ms, inference "
        f"p50 {diff['inference_p50_ms']:+} ms |",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="default: $SER_BENCH_MODEL or the shipped one")
    parser.add_argument("--any-profile", action="store_true",
                        help="time a copy whose usable rule accepts the synthetic profile")  # fmt: skip
    parser.add_argument("--clips", type=int, default=CLIPS, help="clips per enrolment")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="enrolments timed")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="per kind of /predict")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args()
    model = args.model or model_path()[0]
    with tempfile.TemporaryDirectory(prefix="ser-bench-head-") as folder:
        timed, described = any_profile_copy(model, Path(folder)) if args.any_profile else (
            model, describe(model))  # fmt: skip
        report = run(timed, clips=args.clips, repeats=args.repeats, requests=args.requests)
        report["model"] = described
    report["command"] = " ".join(["python -m bench.speakers", *sys.argv[1:]])
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        **report,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "speakers" + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
