"""The shipped model's honest numbers, written from ``models/evaluation/`` and nowhere by hand.

One table, rendered here and used twice: between the ``<!-- results:start -->`` marks of the
README (``python -m docsite.results --write`` rewrites it; ``--check`` exits 1 when it is
stale, which a test runs) and on the site's "Model and evaluation" page (the MkDocs hook
renders it at build time). A new model changes the JSON files the training job writes; the
table follows without anybody typing a figure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ser_training.data.corpora import CORPUS_FACTS

REPO_ROOT = Path(__file__).resolve().parents[1]
EVALUATION = REPO_ROOT / "models" / "evaluation"
README = REPO_ROOT / "README.md"
MARKS = re.compile(r"(<!-- results:start -->\n)(.*?)(<!-- results:end -->)", re.DOTALL)
# The domain profile the product recommends (docs, "Speaker and domain profiles"): 100 clips,
# 60 % of them neutral; a corpus without neutral falls back to 100 random clips.
DOMAIN_DRAWS = ("domain:neutral_60_100", "domain:random_100")
DRAW_NAMES = {"domain:neutral_60_100": "60 % neutral", "domain:random_100": "random"}
LOCO_MARK = "†"  # a plain figure from the leave-one-corpus-out run


def percent(value: float) -> str:
    """0.781 → '78.1 %'."""
    return f"{100 * value:.1f} %"


def corpus_name(corpus: str) -> str:
    facts = CORPUS_FACTS.get(corpus)
    return facts.name if facts else corpus


def _labels(metrics: dict) -> str:
    n = len(metrics.get("labels_present", []))
    return str(n) if n else "–"


def held_out_plain(summary: dict, corpus: str, cells: dict) -> str:
    """The plain 7-class figure a domain-profile row starts from. The adaptation protocol's
    plain head trained on the shipped model's corpora, so for those the plain figure is the
    leave-one-corpus-out run's (the same recipe trained without the corpus), marked †."""
    if corpus in summary["split"]["train"]:
        loco = summary.get("leave_one_corpus_out", {}).get(corpus, {})
        if "unrestricted_accuracy" not in loco:
            return "–"  # the only plain figure at hand heard this corpus
        return f"{100 * loco['unrestricted_accuracy']:.1f}{LOCO_MARK}"
    return f"{cells['plain']['mean']:.1f}"


def results_rows(summary: dict, adaptation: dict | None) -> list[str]:
    """Markdown rows of the results table, one per (protocol, corpus)."""
    rows = []
    for corpus, speakers in summary["split"]["test"].items():
        metrics = summary["test"][corpus]
        rows.append(
            f"| held-out speakers | {corpus_name(corpus)} {' '.join(speakers)} | "
            f"{_labels(metrics)} | {metrics['n']} | **{percent(metrics['accuracy'])}** | "
            f"{percent(metrics['uar'])} |"
        )
    total = summary["test"]["all"]
    rows.append(
        f"| held-out speakers | all test speakers | {_labels(total)} | {total['n']} | "
        f"**{percent(total['accuracy'])}** | {percent(total['uar'])} |"
    )
    for corpus, metrics in sorted(summary.get("leave_one_corpus_out", {}).items()):
        trained_on = " + ".join(corpus_name(c) for c in metrics["trained_on"])
        rows.append(
            f"| corpus held out (trained on {trained_on}) | {corpus_name(corpus)}, every "
            f"speaker | {_labels(metrics)} | {metrics['n']} | **{percent(metrics['accuracy'])}**"
            f" | {percent(metrics['uar'])} |"
        )
    for corpus, metrics in sorted(summary.get("exported_model_scores", {}).items()):
        rows.append(
            f"| never trained on (this model, `ser-train score`) | {corpus_name(corpus)}, every "
            f"speaker | {_labels(metrics)} | {metrics['n']} | **{percent(metrics['accuracy'])}**"
            f" | {percent(metrics['uar'])} |"
        )
    for key, cells in sorted((adaptation or {}).get("domain_table", {}).items()):
        kind, _, corpus = key.partition(":")
        draw = next((d for d in DOMAIN_DRAWS if d in cells), None)
        if kind != "held_out" or draw is None or "plain" not in cells:
            continue
        adapted = cells[draw]
        rows.append(
            f"| corpus held out + a 100-clip domain profile ({DRAW_NAMES[draw]}), "
            f"{adapted['seeds']} seeds | {corpus_name(corpus)}, every speaker | 7 | – | "
            f"{held_out_plain(summary, corpus, cells)} → **{adapted['mean']:.1f} ± "
            f"{adapted['sd']:.1f} %** | – |"
        )
    return rows


def results_table(evaluation: Path = EVALUATION) -> str:
    """The table with its heading line and a sentence naming the model, as Markdown."""
    summary = json.loads((evaluation / "summary.json").read_text(encoding="utf-8"))
    adaptation_path = evaluation / "adaptation.json"
    adaptation = (
        json.loads(adaptation_path.read_text(encoding="utf-8"))
        if adaptation_path.exists()
        else None
    )
    version = summary["model_version"]
    lines = [
        f"Shipped model `{version}`, utterance-level accuracy on speakers or corpora its "
        "figures' weights never heard (generated from `models/evaluation/` by "
        "`python -m docsite.results --write`; protocols and every other figure: "
        "[model card](models/MODEL_CARD.md), [evaluation report](models/evaluation/report.md)).",
        "",
        "| protocol | scored | classes | files | accuracy | UAR |",
        "|---|---|---|---|---|---|",
        *(rows := results_rows(summary, adaptation)),
        "",
    ]
    notes = []
    if "refit" in summary:
        refit_corpora = ", ".join(map(corpus_name, summary["refit"]["speakers"]))
        protocol_version = summary.get("protocol_model_version", version)
        notes.append(
            f"The shipped weights are a refit on every speaker of {refit_corpora}; the "
            f"held-out figures are those of its protocol run `{protocol_version}`, whose "
            'weights never heard the scored speakers. The "never trained on" rows are the '
            "shipped weights themselves."
        )
    if any("domain profile" in row for row in rows):
        notes.append(
            "The domain-profile rows are 7-class as served, plain → adapted, by heads that "
            "never trained on the corpus."
        )
    if any(LOCO_MARK in row for row in rows):
        notes.append(f"{LOCO_MARK} plain: the leave-one-corpus-out run, one seed.")
    return "\n".join([*lines, *([" ".join(notes), ""] if notes else [])])


def with_results(readme: str, table: str) -> str:
    """``readme`` with the text between its results marks replaced by ``table``."""
    if not MARKS.search(readme):
        raise ValueError("the README has no <!-- results:start --> … <!-- results:end --> block")
    return MARKS.sub(lambda m: m.group(1) + table + m.group(3), readme, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the README's table")
    action.add_argument("--check", action="store_true", help="exit 1 if the README's is stale")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    fresh = with_results(readme, results_table())
    if args.write:
        README.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != readme:
        print(
            "README.md's results table is stale: run python -m docsite.results --write",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
