"""Issue 30's "done when", through the API: per corpus, one domain profile of 100 clips (60 %
neutral; 100 random for a corpus without neutral clips) drawn from the scored clips and sent
to ``POST /domains``, then every scored clip sent to ``POST /predict?domain=ID``; accuracy of
the answers as served (an unusable profile is answered plain) beside the same model's plain
answer of each clip (``plain`` in the response, or the answer itself when not adapted).

Scored clips: the test speakers of the corpora the plain head trained on (RAVDESS, EMO-DB,
TESS), every speaker of the others (nEMO, TurEV-DB, URDU), as ``bench.adaptation_api``. The
draw is the protocol's own for seed 0 (``ser_training.adaptation.domains.score_corpus``: the
same generator, its draws in the same order), so the figures should equal the seed-0
``domain:neutral_60_100`` cells of the protocol's head trained without the test speakers;
through the shipped head (refitted on every speaker of its corpora) they differ by what the
refit learnt. Needs the corpora (``--data``) and ``ser_training`` (no TensorFlow).

``--held-out``: instead of the shipped head (which trained on every speaker of every corpus
here, so none is held out from it), each corpus is answered by a model whose normalised head
was fitted without that corpus and without the test speakers, as the protocol's
``held_out`` rows (seed 0, ``ser-train adapt``'s recipe; everything else is the shipped
model's, its plain head included). That is the done-when's "on held-out corpora".

Usage: python -m bench.domains_api [--data DIR] [--model PATH] [--corpora a,b] [--held-out]
Writes bench/results/domains_api.json and .md (domains_api_held_out.* with --held-out).
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.adaptation_api import (
    HELD_OUT,
    TRAINED_ON,
    accuracies,
    service,
    speakers_of,
    upload,
)
from bench.common import REPO, machine, write_report
from ser_training.adaptation.domains import DOMAIN_DRAWS
from ser_training.adaptation.protocol import draw_enrolment, hash_corpus
from ser_training.data.corpora import find_corpora

DRAW = "neutral_60_100"  # the done-when's profile
SHIPPED_NOTE = (
    "**The shipped head was refitted on every clip scored here** (every speaker of every "
    "corpus): these figures are memory, not recognition; they check that the service answers "
    "and adapts, and --held-out measures it."
)
FALLBACK = "random_100"  # for a corpus without neutral clips


def domain_draw(utterances: list, corpus: str, seed: int = 0) -> tuple[str, np.ndarray]:
    """(draw name, indices into ``utterances``): the protocol's draws replayed in order."""
    rng = np.random.default_rng([seed, hash_corpus(corpus)])
    labels = np.array([u.label for u in utterances])
    clips = np.arange(len(utterances))
    drawn = {}
    for name in DOMAIN_DRAWS:
        sample = draw_enrolment(name, clips, labels, rng)
        if sample is not None:
            drawn[name] = sample
    name = DRAW if DRAW in drawn else FALLBACK
    return name, drawn[name]


def run(data: Path, model: Path, corpora: list[str], chunk: int = 50) -> dict:
    table: dict = {}
    with service(model) as client:
        for corpus, speakers in speakers_of(data, corpora).items():
            started = time.perf_counter()
            utterances = [u for s in sorted(speakers) for u in speakers[s]]
            utterances.sort(key=lambda u: str(u.path))  # the protocol's clip order
            draw, chosen = domain_draw(utterances, corpus)
            # A profile of more clips than one request takes: created, then added to.
            files = [("files", upload(utterances[i])) for i in chosen]
            response = client.post("/domains", files=files[:chunk])
            response.raise_for_status()
            domain = response.json()["domain"]
            for start in range(chunk, len(files), chunk):
                more = client.post(f"/domains/{domain}/clips", files=files[start : start + chunk])
                more.raise_for_status()
            profile = client.get(f"/domains/{domain}").json()
            right = {"plain": 0, "served": 0}
            adapted = 0
            for u in utterances:
                answer = client.post("/predict", params={"domain": domain},
                                     files={"file": upload(u)})  # fmt: skip
                answer.raise_for_status()
                body = answer.json()
                plain = body["plain"]["emotion"] if body["adapted"] else body["emotion"]
                right["served"] += body["emotion"] == u.label
                right["plain"] += plain == u.label
                adapted += body["adapted"]
            client.delete(f"/domains/{domain}").raise_for_status()
            total = len(utterances)
            table[corpus] = {
                "profile": draw, "profile_clips": profile["clips"],
                "profile_windows": profile["windows"], "usable": profile["usable"],
                "reason": profile["reason"], "speakers": len(speakers), "clips": total,
                "adapted_answers": adapted, **accuracies(right, total, "domain_as_served"),
                "seconds": round(time.perf_counter() - started, 1),
            }  # fmt: skip
            print(corpus, table[corpus], flush=True)
    return table


def fold_models(
    model: Path, data: Path, corpora: list[str], folder: Path, seed: int = 0,
    work: Path = REPO / "artifacts" / "adaptation",
) -> dict[str, Path]:  # fmt: skip
    """Per corpus, ``model`` with its normalised head refitted without that corpus and the
    test speakers (the protocol's held-out fold), written under ``folder``; the embeddings
    (cached in ``work``) are loaded once for all of them."""
    from ser_inference import EmotionClassifier
    from ser_training.adaptation import job
    from ser_training.model.adaptation_graph import write_adapted_model

    config = job.AdaptConfig(model=model, data_dir=data, out=folder, work=work)
    # Only the normalised head is refitted here (on encoder statistics): a shipped model whose
    # plain head is a refit on every speaker is fine for that.
    proto, metadata, embeddings = job._load(config, progress=lambda _: None, refit_ok=True)
    recipe = job.RECIPES[job.CHOSEN]
    rule = EmotionClassifier.load(model).require_domains()
    folds = {}
    for corpus in corpora:
        train = [s for c in recipe.corpora if c != corpus for s in job._speakers(embeddings, c)
                 if not job._is_test(s)]  # fmt: skip
        head = job.fit(embeddings, recipe, train, metadata.labels, seed)
        graph = type(proto)()
        graph.CopyFrom(proto)  # write_adapted_model extends the graph in place
        folds[corpus] = write_adapted_model(graph, metadata, head.weights, head.bias, rule,
                                            folder / f"without_{corpus}.onnx")  # fmt: skip
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "ser_model.onnx")
    parser.add_argument("--corpora", default=",".join(TRAINED_ON + HELD_OUT))
    parser.add_argument("--held-out", action="store_true", help="fold heads, see above")
    args = parser.parse_args()
    present = find_corpora(args.data)
    corpora = [c for c in args.corpora.split(",") if c in present]
    if not args.held_out:
        table = run(args.data, args.model, corpora)
    else:
        table = {}
        with tempfile.TemporaryDirectory() as folder:
            for corpus, fold in fold_models(args.model, args.data, corpora, Path(folder)).items():
                table |= run(args.data, fold, [corpus])
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(), "model": str(args.model),
        "command": "python -m bench.domains_api" + (" --held-out" if args.held_out else ""),
        "protocol": __doc__.split("\n\n")[0].replace("\n", " ") + (
            "" if args.held_out else " " + SHIPPED_NOTE
        ),
        "table": table,
    }  # fmt: skip
    write_report(
        "domains_api" + ("_held_out" if args.held_out else ""), result,
        "Domain profiles through the API" + (", corpora held out" if args.held_out else ""),
        "| corpus | profile | clips (windows) | usable | speakers | clips scored | plain % | domain as served % | gain |",
        [f"| {c} | {r['profile']} | {r['profile_clips']} ({r['profile_windows']}) | "
          f"{'yes' if r['usable'] else 'no: ' + str(r['reason'])} | {r['speakers']} | "
          f"{r['clips']} | {r['plain']:.1f} | {r['domain_as_served']:.1f} | {r['gain']:+.1f} |"
          for c, r in table.items()],
    )  # fmt: skip


if __name__ == "__main__":
    main()
