"""Issue 24's "done when", through the API: per held-out speaker, 30 enrolment clips (60 %
neutral; 30 random for a corpus without neutral clips) sent to ``POST /speakers``, then every
clip of the speaker sent to ``POST /predict?speaker=ID``; accuracy of the adapted answers as
served (an unusable profile is answered plain) beside the same model's plain answer of each
clip (``plain`` in the response, or the answer itself when not adapted).

The enrolment sets are the protocol's own draws for seed 0
(``ser_training.adaptation.protocol``, the same generator and speaker order), so these figures
must equal the seed-0 column of ``models/evaluation/adaptation.json``: the check that the
service answers as the protocol measured. Needs the corpora (``--data``, default
``../shared/datasets``) and ``ser_training`` (no TensorFlow).

Usage: python -m bench.adaptation_api [--data DIR] [--model PATH] [--corpora a,b]
Writes bench/results/adaptation_api.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from bench.common import REPO, machine, write_report
from ser_api.config import Settings
from ser_api.main import create_app
from ser_training.adaptation.protocol import draw_enrolment, hash_corpus
from ser_training.data.corpora import find_corpora, scan_data_dir
from ser_training.data.splits import TEST_SPEAKERS

TRAINED_ON = ("ravdess", "emodb", "tess")  # the shipped model's corpora: test speakers only
HELD_OUT = ("nemo", "turev", "urdu")  # never trained on: every speaker


def speakers_of(data: Path, corpora: list[str]) -> dict[str, dict[str, list]]:
    """corpus → speaker → its utterances, sorted by path (the protocol's order)."""
    found = scan_data_dir(
        data, [c for c in corpora if c in TRAINED_ON],
        extra_corpora=[c for c in corpora if c in HELD_OUT],
    )  # fmt: skip
    out: dict[str, dict[str, list]] = {}
    for u in sorted(found.utterances, key=lambda u: str(u.path)):
        speaker = u.speaker.split(":", 1)[1]
        if u.corpus in TRAINED_ON and speaker not in TEST_SPEAKERS[u.corpus]:
            continue
        out.setdefault(u.corpus, {}).setdefault(u.speaker, []).append(u)
    return out


@contextlib.contextmanager
def service(model: Path) -> Iterator[TestClient]:
    """The API in this process, serving ``model`` with a throwaway profile store."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None, model_path=model, speaker_db=Path(folder) / "profiles.sqlite3"
        )
        with TestClient(create_app(settings)) as client:
            yield client


def upload(u) -> tuple[str, bytes, str]:
    """An utterance's file as a multipart part."""
    return (u.path.name, u.path.read_bytes(), "application/octet-stream")


def accuracies(right: dict[str, int], total: int, served: str) -> dict[str, float]:
    """% of ``total`` answers right, plain and as served (named ``served``), and the gain."""
    return {
        "plain": round(100.0 * right["plain"] / total, 2),
        served: round(100.0 * right["served"] / total, 2),
        "gain": round(100.0 * (right["served"] - right["plain"]) / total, 2),
    }


def run(data: Path, model: Path, corpora: list[str]) -> dict:
    table: dict = {}
    with service(model) as client:
        for corpus, speakers in speakers_of(data, corpora).items():
            started = time.perf_counter()
            draw = "neutral_60_30" if corpus != "turev" else "random_30"
            rng = np.random.default_rng([0, hash_corpus(corpus)])
            right = {"plain": 0, "served": 0}
            total = used = enrolled = 0
            for speaker in sorted(speakers):
                utterances = speakers[speaker]
                labels = np.array([u.label for u in utterances])
                chosen = draw_enrolment(draw, np.arange(len(utterances)), labels, rng)
                if chosen is None:
                    continue
                files = [("files", upload(utterances[i])) for i in chosen]
                response = client.post("/speakers", files=files)
                response.raise_for_status()
                profile = response.json()
                enrolled += 1
                used += profile["usable"]
                for u in utterances:
                    answer = client.post(
                        "/predict", params={"speaker": profile["speaker"]},
                        files={"file": upload(u)},
                    )  # fmt: skip
                    answer.raise_for_status()
                    body = answer.json()
                    plain = body["plain"]["emotion"] if body["adapted"] else body["emotion"]
                    right["served"] += body["emotion"] == u.label
                    right["plain"] += plain == u.label
                    total += 1
                client.delete(f"/speakers/{profile['speaker']}").raise_for_status()
            table[corpus] = {
                "enrolment": draw, "speakers": enrolled, "clips": total,
                "usable_profiles": used, **accuracies(right, total, "adapted_as_served"),
                "seconds": round(time.perf_counter() - started, 1),
            }  # fmt: skip
            print(corpus, table[corpus], flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "ser_model.onnx")
    parser.add_argument("--corpora", default=",".join(TRAINED_ON + HELD_OUT))
    args = parser.parse_args()
    present = find_corpora(args.data)
    corpora = [c for c in args.corpora.split(",") if c in present]
    table = run(args.data, args.model, corpora)
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(), "model": str(args.model), "command": "python -m bench.adaptation_api",
        "protocol": __doc__.split("\n\n")[0].replace("\n", " "), "table": table,
    }  # fmt: skip
    write_report(
        "adaptation_api", result, "Speaker adaptation through the API",
        "| corpus | enrolment | speakers | clips | profiles usable | plain % | adapted as served % | gain |",
        [f"| {c} | {r['enrolment']} | {r['speakers']} | {r['clips']} | {r['usable_profiles']} "
          f"| {r['plain']:.1f} | {r['adapted_as_served']:.1f} | {r['gain']:+.1f} |"
          for c, r in table.items()],
    )  # fmt: skip


if __name__ == "__main__":
    main()
