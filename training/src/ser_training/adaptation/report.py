"""The adaptation protocol as Markdown: its own section of the model card, never mixed with
the single-clip figures (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

from ser_training.evaluation.report import CORPUS_NAMES

SUMMARY_FILE = "adaptation.json"  # under <out>/evaluation/
COLUMNS = (
    ("random_5", "5 random"), ("random_10", "10 random"), ("random_30", "30 random"),
    ("neutral_60_30", "30, 60 % neutral"), ("neutral_only_10", "10 neutral only"),
    ("neutral_only_30", "30 neutral only"), ("all", "every clip"), ("self", "each clip itself"),
)  # fmt: skip


def stored_adaptation(out_dir: Path) -> dict | None:
    """The adaptation summary beside the model in ``out_dir``, None if it was never adapted."""
    path = out_dir / "evaluation" / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _cell(row: dict | None, kind: str, plain: float) -> str:
    """One enrolment's accuracy; a draw that only some speakers allow (neutral sets) names
    the single-clip accuracy of those speakers."""
    if row is None:
        return "–"
    spread = f" ± {row[f'{kind}_sd']:.1f}" if row["seeds"] > 1 else ""
    used = f" ({row['usable_share']:.0%} used)" if kind == "served" else ""
    subset = (
        ""
        if abs(row["plain"] - plain) < 1e-9
        else f"; single clip {row['plain']:.1f} on its {row['speakers']} speakers"
    )
    return f"{row[kind]:.1f}{spread}{used}{subset}"


def _table(table: dict, kind: str) -> list[str]:
    """Corpus rows of one kind of answer ("served" or "forced") under every enrolment."""
    lines = [
        "| corpus (speakers) | single clip | " + " | ".join(n for _, n in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for corpus, rows in sorted(table.items()):  # the same order from memory or from JSON
        first = next(iter(rows.values()))
        lines.append(
            f"| {CORPUS_NAMES.get(corpus, corpus)} ({first['speakers']}) | {first['plain']:.1f} | "
            + " | ".join(_cell(rows.get(name), kind, first["plain"]) for name, _ in COLUMNS)
            + " |"
        )
    return lines


def adaptation_lines(summary: dict) -> list[str]:
    """The model card's "Speaker adaptation" section."""
    head = summary["head"]
    rule = head["rule"]
    table = summary["table"]
    rule_line = head.get("chosen_rule", {})
    lines = [
        "## Speaker adaptation (its own protocol)",
        "",
        "A second head in the same graph reads the encoder's per-layer statistics standardised "
        "with a *speaker profile*: the mean and standard deviation of those statistics over a "
        "speaker's unlabelled enrolment clips (`POST /speakers`). Its figures below come from "
        "this protocol only and are never mixed with the single-clip figures above.",
        "",
        f"Protocol: {summary['protocol']}. Test speakers: "
        + "; ".join(
            f"{CORPUS_NAMES.get(c, c)} {', '.join(ids) if len(ids) <= 8 else f'all {len(ids)}'}"
            for c, ids in sorted(summary["test_speakers"].items())
        )
        + f". Corpora neither head trained on: {', '.join(CORPUS_NAMES.get(c, c) for c in summary['held_out_corpora']) or 'none'}.",
        "",
        f"Head: logistic regression (C {head['c']} chosen on the validation speakers from "
        f"{', '.join(f'{c}: {a:.1%}' for c, a in head['validation_accuracy_by_c'].items())}), "
        f'temperature {head["temperature"]:.3f}, "not sure" below {head["uncertain_below"]:.3f}. '
        f"Usable rule: at least {rule_line.get('min_windows', '?')} voiced windows, and the plain "
        f"head's most frequent answer on at most {rule_line.get('max_dominant_share', 0):.0%} of "
        "them (chosen on the validation speakers' enrolment draws; mean gain there "
        f"{rule['mean_gain_with_rule']:+.2f} points).",
        "",
        "Accuracy % of clips as served (an unusable profile is answered by the plain head), "
        "mean ± sd over seeds, with the share of profiles used:",
        "",
        *_table(table, "served"),
        "",
        "The same profiles forced on every speaker (the usable rule ignored), to show what the "
        "rule guards against:",
        "",
        *_table(table, "forced"),
    ]
    lines += [
        "",
        "Enrolment clips are scored too (no label is used to build a profile; labels only "
        "choose which clips a draw takes). A corpus without neutral clips has no neutral "
        "columns; a speaker with fewer clips than a draw asks for enrols all of them. "
        "Per-speaker rows: `models/evaluation/adaptation.json`. A profile needs the "
        "speaker's varied speech: a speaker heard in one emotion only (most URDU speakers "
        "here) gets worse adapted answers, and the usable rule catches that only when the "
        "plain head hears the uniformity.",
        "",
    ]
    return lines
