"""The adaptation protocols as Markdown: their own section of the model card, never mixed with
the single-clip figures (issues 24 and 30)."""

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


TRUST_FILE = "trust.json"  # under <out>/evaluation/, from `ser-train trust`


def pct(value: float | None) -> str:
    """0.815 → '82 %'; None → '–'."""
    return "–" if value is None else f"{100 * value:.0f} %"


def trust_lines(out_dir: Path, model_version: str) -> list[str]:
    """The model card's trust section from ``ser-train trust``'s summary beside the model:
    per held-out corpus and head, ECE and sure answers; [] when it was never measured, or
    measured for another model (a new ``ser-train train`` leaves the old file behind)."""
    path = out_dir / "evaluation" / TRUST_FILE
    if not path.is_file():
        return []
    trust = json.loads(path.read_text())
    if model_version not in (trust.get("model_version"), trust.get("protocol_model_version")):
        return []

    lines = [
        "## Trust: calibration per corpus, every head (`ser-train trust`)",
        "",
        "Per held-out corpus: accuracy, calibration error (ECE) and the share of answers "
        "sure enough to name an emotion, with how often those are right. Adapted heads: a "
        "head trained without the corpus, calibrated on the other corpora; plain: its own "
        "held-out-corpus runs. Details, and 15-clip one-mood enrolments against the usable "
        "rule: [evaluation/trust.md](evaluation/trust.md).",
        "",
        "| corpus | head | accuracy | ECE | sure share | sure right |",
        "|---|---|---|---|---|---|",
    ]
    rows = [
        (corpus, head, figures["other corpora"])
        for corpus, heads in sorted(trust["calibration"].items())
        for head, figures in heads.items()
    ] + [(corpus, "plain", figures) for corpus, figures in sorted(trust.get("plain", {}).items())]
    for corpus, head, f in rows:
        lines.append(
            f"| {CORPUS_NAMES.get(corpus, corpus)} | {head} | {pct(f['accuracy'])} | "
            f"{f['ece']:.3f} | {pct(f['sure_share'])} | {pct(f['sure_accuracy'])} |"
        )
    return [*lines, ""]


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


DOMAIN_COLUMNS = (
    ("plain", "single clip"), ("domain:random_30", "domain 30 random"),
    ("domain:random_100", "domain 100 random"), ("domain:random_300", "domain 300 random"),
    ("domain:neutral_60_30", "domain 30, 60 % neutral"),
    ("domain:neutral_60_100", "domain 100, 60 % neutral"),
    ("domain:neutral_60_300", "domain 300, 60 % neutral"), ("domain:all", "domain every clip"),
    ("speaker", "speaker 30 random"), ("both", "speaker + domain"),
)  # fmt: skip


def _domain_cell(row: dict, column: str) -> str:
    if column not in row:
        return "–"
    cell = row[column]
    spread = f" ± {cell['sd']:.1f}" if cell["seeds"] > 1 else ""
    used = row.get(f"{column}:used")
    partly = f" ({used['mean']:.0%} used)" if used is not None and used["mean"] < 1 else ""
    return f"{cell['mean']:.1f}{spread}{partly}"


def domain_table_lines(domain_table: dict) -> list[str]:
    """Held-out corpora first, then the trained corpora's new speakers; one row per corpus."""
    lines = [
        "| corpus | scored | " + " | ".join(name for _, name in DOMAIN_COLUMNS) + " |",
        "|---|---|" + "---|" * len(DOMAIN_COLUMNS),
    ]
    order = sorted(domain_table, key=lambda k: (not k.startswith("held_out:"), k))
    for key in order:
        kind, corpus = key.split(":", 1)
        scored = "every speaker, corpus held out" if kind == "held_out" else "test speakers"
        lines.append(
            f"| {CORPUS_NAMES.get(corpus, corpus)} | {scored} | "
            + " | ".join(_domain_cell(domain_table[key], c) for c, _ in DOMAIN_COLUMNS)
            + " |"
        )
    return lines


def adaptation_lines(summary: dict) -> list[str]:
    """The model card's "Domain and speaker profiles" section."""
    head = summary["head"]
    rule = head["chosen_rule"]
    recipe = summary["recipe"]
    names = ", ".join(CORPUS_NAMES.get(c, c) for c in recipe["corpora"])
    lines = [
        "## Domain and speaker profiles (their own protocol)",
        "",
        "A second head in the same graph reads the encoder's per-layer statistics standardised "
        "with a *profile*: the mean and standard deviation of those statistics over unlabelled "
        "clips of one speaker (`POST /speakers`) or of one place, a deployment's own "
        "recordings (`POST /domains`). Its figures below come from these protocols only and "
        "are never mixed with the single-clip figures above.",
        "",
        f"Head: logistic regression (C {head['c']}) on {names}, each corpus standardised with "
        f"domain profiles ({', '.join(recipe['domain_draws']) or 'none'}) and each speaker with "
        f"speaker profiles ({', '.join(recipe['speaker_draws']) or 'none'}); labels a corpus "
        "lacks are left out of its windows' softmax. The shipped weights are "
        f'{summary["shipped_head"]}. Temperature {head["temperature"]:.3f}, "not sure" below '
        f"{head['uncertain_below']:.3f}, both fitted on {head['calibrated_on']}. Usable rules: a "
        f"speaker profile needs ≥ {rule['min_windows']} voiced windows, a domain profile ≥ "
        f"{rule['domain_min_windows']}, and in both the plain head's most frequent answer on "
        f"at most {rule['max_dominant_share']:.0%} of them; speaker + domain counts the "
        f"domain as {rule['domain_prior_windows']} extra windows of the speaker's.",
        "",
        f"Protocol: {summary['protocol']}. The plain column of a held-out RAVDESS, EMO-DB or "
        "TESS row is the shipped plain head, which trained on that corpus's other speakers "
        "(and scores its own training speakers there): it is no held-out figure.",
        "",
        *domain_table_lines(summary["domain_table"]),
        "",
        "Speaker enrolments on the test speakers (issue 24's protocol, the head trained "
        "without them), accuracy % of clips as served, mean ± sd over seeds, with the share "
        "of profiles used:",
        "",
        *_table(summary["table"], "served"),
        "",
        "The same profiles forced on every speaker (the usable rule ignored):",
        "",
        *_table(summary["table"], "forced"),
        "",
        f"Licence: this head also trained on {names}; the model inherits every one of "
        "their non-commercial terms (nEMO CC BY-NC-SA 4.0, TurEV-DB CC BY-NC-ND 4.0, URDU "
        "research use, where used).",
        "",
        "Enrolment clips are scored too (no label is used to build a profile; labels only "
        "choose which clips a draw takes). A corpus without neutral clips has no neutral "
        "columns. Every run: `models/evaluation/adaptation.json`; the recipe comparison: "
        "`models/evaluation/adaptation_compare.json`.",
        "",
    ]
    return lines
