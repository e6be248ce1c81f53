"""The evaluation report: markdown tables, confusion-matrix and learning-curve PNGs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the job runs in containers and CI without a display
import matplotlib.pyplot as plt
import numpy as np

CORPUS_NAMES = {"ravdess": "RAVDESS", "emodb": "EMO-DB", "tess": "TESS", "crema-d": "CREMA-D",
                "savee": "SAVEE", "turev": "TurEV-DB", "urdu": "URDU", "nemo": "nEMO", "all": "all test speakers"}  # fmt: skip


def recipe_of(summary: dict) -> dict:
    """The recipe a stored summary was trained with (summaries from before recipes existed
    name their features, hyperparameters and corpus weighting only)."""
    if "recipe" in summary:
        return summary["recipe"]
    return {
        "feature_config": summary["feature_config"],
        "hyperparameters": summary.get("hyperparameters", {}),
        "balance": "corpus" if summary.get("balance_corpora") else "class",
    }


def robustness_rows(table: dict[str, dict]) -> list[tuple[str, dict]]:
    """Conditions in a reading order: clean first, then as listed in ROBUSTNESS_CONDITIONS
    (the summary JSON stores them sorted by name)."""
    from ser_training.features.augment import ROBUSTNESS_CONDITIONS

    order = ["clean", *ROBUSTNESS_CONDITIONS]
    return sorted(
        table.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)
    )


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, path: Path
) -> None:
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(
                    j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8, color=colour
                )
    fig.colorbar(image, ax=ax, label="share of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curves(history: dict[str, list[float]], best_epoch: int, path: Path) -> None:
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
        ax.plot(epochs, history[key], label=f"train {key} (augmented windows)")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label=f"validation {key} (windows)")
        ax.axvline(
            best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {best_epoch}"
        )
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scored_note(summary: dict) -> str:
    threshold = summary["feature_config"]["silence_dbfs"]
    return (
        f"'scored / files': a file whose every window is below the silence threshold ({threshold:g} dBFS) "
        "has nothing to classify; it is not scored here and the API answers 422 for it. 'accuracy if "
        "unscored count as wrong' is the conservative figure."
    )


def scored(m: dict) -> str:
    return f"{m['n']} / {m['n_files']}" if "n_files" in m else str(m["n"])


def conservative(m: dict) -> str:
    return pct(m["accuracy"] * m["n"] / m["n_files"]) if m.get("n_files") else "–"


LOCO_SPEAKERS_NOTE = (
    "The held-out corpus is also scored separately on its usual test speakers and on the rest: "
    "choices of training recipe (padding, normalisation, weighting, augmentation) were made on the 'other "
    "speakers' figures only, so the 'test speakers' column is untouched by any choice."
)


def speaker_group_cell(m: dict, group: str) -> str:
    """'accuracy (n=…)' of one speaker group of a held-out corpus, or '–' if not measured."""
    scores = m.get("by_speakers", {}).get(group)
    return f"{pct(scores['accuracy'])} (n={scores['n']})" if scores else "–"


def metrics_table(results: dict[str, dict]) -> list[str]:
    lines = [
        "| corpus | scored / files | accuracy | UAR | macro F1 | accuracy if unscored count as wrong |",
        "|---|---|---|---|---|---|",
    ]
    for corpus, m in results.items():
        name = CORPUS_NAMES.get(corpus, corpus)
        lines.append(
            f"| {name} | {scored(m)} | {pct(m['accuracy'])} | {pct(m['uar'])} | {pct(m['macro_f1'])} "
            f"| {conservative(m)} |"
        )
    return lines


def per_class_table(metrics: dict, labels: Sequence[str]) -> list[str]:
    lines = [
        "| class | precision | recall | F1 | support | predicted |",
        "|---|---|---|---|---|---|",
    ]
    for label in labels:
        c = metrics["per_class"][label]
        predicted = metrics["prediction_distribution"][label]
        lines.append(
            f"| {label} | {pct(c['precision'])} | {pct(c['recall'])} | {pct(c['f1'])} | {c['support']} | {predicted} |"
        )
    return lines


def calibration_lines(summary: dict, figures: str = "evaluation/") -> list[str]:
    """Markdown for the calibration section (report and model card alike); [] if none.
    ``figures`` is the folder of the PNGs relative to the markdown file."""
    section = summary.get("calibration")
    if not section:
        return []
    c = section["calibration"]
    arousal = (
        "Arousal = the learned head: sigmoid of a weighted sum of the calibrated "
        "log-probabilities (`arousal_weights` in the metadata), chosen over the derived mapping "
        "when it measured better on unseen corpora; how the two compare for this recipe's "
        "runs: `models/evaluation/affect_heads.md`"
        if c.get("arousal_weights")
        else "Arousal = probability of a high-arousal emotion (angry, fearful, happy, surprised; "
        "disgust counts as low)"
    )
    lines = [
        "### Confidence, \"not sure\", arousal and valence",
        "",
        f"Temperature {c['temperature']:.3f} (applied to every window inside the model); an answer "
        f"whose top probability is below {c['uncertain_below']:.3f} is flagged `uncertain`. "
        f"Chosen by: {c['fitted_on']}. {arousal}; valence = expected valence of the "
        "class probabilities (happy +0.8, surprised +0.4, neutral 0, the others −0.7…−0.8).",
        "",
        "| speakers | files | ECE before → after | Brier before → after | kept at threshold | accuracy of kept (all) | arousal acc. (always high) | valence-sign acc. (always negative) |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    rows = [("validation (chose them)", section["validation"])]
    rows += [(f"test: {CORPUS_NAMES.get(k, k)}", v) for k, v in section["test"].items()]
    rows += [(f"held-out corpus: {CORPUS_NAMES.get(k, k)}", v)
             for k, v in section.get("held_out_corpora", {}).items()]  # fmt: skip
    for name, m in rows:
        before, after = m["uncalibrated"], m["calibrated"]
        kept = m["at_threshold"]
        lines.append(
            f"| {name} | {after['n']} | {before['ece']:.3f} → {after['ece']:.3f} "
            f"| {before['brier']:.3f} → {after['brier']:.3f} | {pct(kept['coverage'])} "
            f"| {pct(kept['accuracy'])} ({pct(after['accuracy'])}) "
            f"| {pct(m['arousal_accuracy'])} ({pct(m['always_high_arousal'])}) "
            f"| {pct(m['valence_sign_accuracy'])} ({pct(m['always_negative_valence'])}) |"
        )
    if section.get("held_out_note"):
        lines += ["", section["held_out_note"]]
    curve = section["test"]["all"]["coverage_curve"] if "all" in section["test"] else []
    if curve:
        lines += ["", "Accuracy-coverage on all test speakers (answers with top probability ≥ threshold):", "",
                  "| threshold | " + " | ".join(f"{r['threshold']:.1f}" for r in curve) + " |",
                  "|---|" + "---|" * len(curve),
                  "| answers kept | " + " | ".join(pct(r["coverage"]) for r in curve) + " |",
                  "| accuracy of kept | " + " | ".join(pct(r["accuracy"]) for r in curve) + " |"]  # fmt: skip
    return [*lines, "", f"![reliability]({figures}reliability.png)", ""]


def write_report(summary: dict, report_dir: Path) -> Path:
    """Write report.md and its figures into ``report_dir``; returns the markdown path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    labels = summary["labels"]
    test = summary["test"]
    lines = [
        f"# Evaluation report — {summary['model_version']}",
        "",
        "Written by `ser-train train`; every figure below comes from this protocol:",
        "",
        f"> {summary['protocol']}",
        "",
        "## Held-out speakers (test set)",
        "",
        *metrics_table(test),
        "",
        scored_note(summary),
        "",
    ]
    if "tess_reverse" in summary:
        r = summary["tess_reverse"]
        lines += [f"TESS has two speakers. Trained with YAF, tested on OAF: {pct(test.get('tess', {}).get('accuracy'))}; "
                  f"trained with OAF, tested on YAF: {pct(r['accuracy'])} (UAR {pct(r['uar'])}).", ""]  # fmt: skip
    for corpus, m in test.items():
        png = f"confusion_{corpus}.png"
        plot_confusion(
            m["confusion_matrix"],
            labels,
            f"{CORPUS_NAMES.get(corpus, corpus)}, held-out speakers",
            report_dir / png,
        )
        lines += [
            f"### {CORPUS_NAMES.get(corpus, corpus)}",
            "",
            *per_class_table(m, labels),
            "",
            f"![confusion]({png})",
            "",
        ]
    if "leave_one_corpus_out" in summary:
        lines += ["## Held-out corpus (leave one corpus out)", "",
                  "Trained on the other corpora (their validation speakers for early stopping), tested on "
                  "every speaker of the held-out corpus; the model chooses among the labels the held-out "
                  "corpus contains ('unrestricted' lets it choose among all 7).", "",
                  *([f"**Provenance:** {summary['leave_one_corpus_out_note']}", ""] if summary.get("leave_one_corpus_out_note") else []),
                  LOCO_SPEAKERS_NOTE, "",
                  "| held-out corpus | trained on | scored / files | accuracy | UAR | unrestricted accuracy "
                  "| test speakers only | other speakers only | predictions |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for corpus, m in summary["leave_one_corpus_out"].items():
            dist = ", ".join(f"{k} {v}" for k, v in m["prediction_distribution"].items() if v)
            lines.append(
                f"| {CORPUS_NAMES.get(corpus, corpus)} | {' + '.join(CORPUS_NAMES.get(c, c) for c in m['trained_on'])} "
                f"| {scored(m)} | {pct(m['accuracy'])} | {pct(m['uar'])} | {pct(m['unrestricted_accuracy'])} "
                f"| {speaker_group_cell(m, 'test_speakers')} | {speaker_group_cell(m, 'other_speakers')} | {dist} |"
            )
            png = f"confusion_loco_{corpus}.png"
            plot_confusion(
                m["confusion_matrix"],
                labels,
                f"{CORPUS_NAMES.get(corpus, corpus)} never seen in training",
                report_dir / png,
            )
        lines += [
            "",
            *[f"![loco {c}](confusion_loco_{c}.png)" for c in summary["leave_one_corpus_out"]],
            "",
        ]
    if "robustness" in summary:
        corpora = [c for c in next(iter(summary["robustness"].values())) if c != "all"]
        lines += ["## Robustness (held-out RAVDESS + EMO-DB speakers, degraded copies)", "",
                  "| condition | " + " | ".join(f"{CORPUS_NAMES.get(c, c)}: scored / files, accuracy" for c in corpora)
                  + " | all: accuracy | all: UAR | all: accuracy if unscored count as wrong |",
                  "|---|" + "---|" * (len(corpora) + 3)]  # fmt: skip
        for condition, by_corpus in robustness_rows(summary["robustness"]):
            cells = " | ".join(
                f"{scored(by_corpus[c])}, {pct(by_corpus[c]['accuracy'])}" for c in corpora
            )
            overall = by_corpus.get("all", by_corpus[corpora[0]])
            lines.append(
                f"| {condition} | {cells} | {pct(overall['accuracy'])} | {pct(overall['uar'])} | {conservative(overall)} |"
            )
        lines += ["", scored_note(summary), ""]
    lines += calibration_lines(summary, figures="")
    plot_learning_curves(
        summary["history"], summary["best_epoch"], report_dir / "learning_curves.png"
    )
    lines += [
        "## Training",
        "",
        f"- Validation speakers, utterance accuracy: {pct(summary['validation'].get('accuracy'))} "
        f"(UAR {pct(summary['validation'].get('uar'))}); weights kept from epoch {summary['best_epoch']}.",
        f"- Counts: {summary['counts']}",
        f"- Hyperparameters: `{summary['hyperparameters']}`",
        f"- Timing (s): {summary['timing_s']} on {summary['machine']}",
        f"- Skipped files: {len(summary['skipped'])} (e.g. {'; '.join(summary['skipped'][:2])})",
        "",
        "![learning curves](learning_curves.png)",
        "",
    ]
    path = report_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
