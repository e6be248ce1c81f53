"""`ser-train compare`: recipes side by side, each trained with several seeds.

One run is one (recipe, seed, schedule): trained on the usual split (scored on the validation
speakers) and once per held-out corpus (scored on that corpus's *non-test* speakers). Each
finished run is stored at once as JSON (scores) + NPZ (utterance probabilities), so a stopped
sweep resumes where it was, and an ensemble of K seeds is scored exactly from its members'
stored probabilities (averaging members' probabilities is what the exported ensemble graph
does). The test speakers are never scored here: no choice can see them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser_training.data.splits import TEST_SPEAKERS, speaker_id, split_by_speaker
from ser_training.evaluation.metrics import score_probabilities
from ser_training.evaluation.runs import load_arrays
from ser_training.features.cache import config_identity
from ser_training.job import (
    CNN_AUGMENT_COPIES,
    JobConfig,
    feature_cache,
    fit_split,
    held_out_corpus_run,
    load_hyperparameters,
    load_windows,
    scan,
    trains_on,
)
from ser_training.model.network import ENCODER_HEAD
from ser_training.model.trainer import predict_utterances

# Screening schedule: levers are screened short, finalists confirmed on the full schedule.
SCREEN = {"epochs": 15, "augment_copies": 1}
MAX_CLASS_SHARE = 0.40  # issue 11: no class may take more of a held-out corpus's predictions
# Less reference speech than a scored speaker's other recordings, for speaker-normalised runs.
SCORED_REFERENCES = ("one", "self")
DECISION_RULE = (
    "Decision rule (fixed before any result): the recipe with the highest seed-mean accuracy on "
    "the held-out corpora's non-test speakers (mean over the corpora every row was scored on: "
    "RAVDESS, EMO-DB, TESS; nEMO too once every row has it) wins; a "
    "difference smaller than the larger of the two seed standard deviations is a tie, settled "
    "by seed-mean validation-speaker accuracy, then by the cheaper recipe. Test speakers are "
    "never scored by `compare`. The tie test applies to the validation-speaker means too (a "
    "difference inside the spread is a tie there as well), so two recipes tied on both go to "
    "the cheaper one (the pitch group adds about 2 ms of features per 3-s window; an ensemble "
    "of K multiplies training and inference by K); a row of one seed has no spread and cannot "
    "win before a second seed confirms it. Rows scored with other recordings of the scored "
    "speaker as reference (speaker_normalisation, speaker_normalisation_one) are their own "
    "protocol, as issue 11 asks: the default model must answer one recording on its own, so "
    "they are not candidates for it; speaker normalisation competes through its no-reference "
    "row (speaker_normalisation_self). Model v3 (issue 18), written before any encoder "
    "result: the encoder rows (whisper_*) compete with the shipped stats_pooling row under this "
    "same rule over RAVDESS, EMO-DB, TESS and nEMO; among encoder rows that tie, whisper_head "
    "(every layer, the fewest choices) is kept; an encoder row tied with stats_pooling loses to "
    "it, the cheaper recipe (about 3 ms against about 30 ms per 3-s window)."
)


# What every recipe changes: the first model's recipe (five feature groups, Conv1D, mean+max
# pooling), spelled out so that the rows and their stored runs stay what they were measured as
# when the job's defaults move to a winning recipe.
FIRST_GROUPS = ["zcr", "rms", "mfcc", "delta_mfcc", "log_mel"]
PITCH_GROUPS = [*FIRST_GROUPS, "pitch"]
BASELINE_OPTIONS = {
    "feature_config": {"groups": FIRST_GROUPS, "front_end": "handcrafted"},
    # The tuned CNN (training/configs/hyperparameters.json) with the first model's pooling.
    "hyperparameters": load_hyperparameters(encoder=None).to_dict()
    | {"architecture": "conv1d", "pooling": "meanmax"},
    "encoder": None,
    "augment_copies": CNN_AUGMENT_COPIES,
}
WHISPER_OPTIONS = {
    "feature_config": {"front_end": "whisper"},
    "encoder": "whisper-tiny.en",
    "hyperparameters": ENCODER_HEAD,
    "augment_copies": 1,  # each copy is another pass of the encoder over the training audio
}


@dataclass(frozen=True)
class Recipe:
    description: str
    options: dict = field(default_factory=dict)  # JobConfig fields (feature/network: nested)
    ensemble_of: str | None = None  # scored from this recipe's stored seeds, not trained
    ensemble_size: int = 1
    # Scored from ``reference_of``'s stored runs, with the scored speakers normalised by this
    # reference (windows.REFERENCES) instead of their other recordings; runs stored before
    # these predictions existed are skipped.
    reference_of: str | None = None
    reference: str = ""

    @property
    def source(self) -> str | None:
        """The recipe whose runs this one is scored from, if not its own."""
        return self.ensemble_of or self.reference_of


RECIPES: dict[str, Recipe] = {
    "baseline": Recipe("the first shipped recipe (Conv1D, mean+max pooling, class weights)"),
    "ensemble2": Recipe(
        "mean of 2 baseline models (seeds s, s+1) in one graph",
        ensemble_of="baseline", ensemble_size=2,
    ),
    "ensemble3": Recipe(
        "mean of 3 baseline models (seeds s, s+1, s+2) in one graph",
        ensemble_of="baseline", ensemble_size=3,
    ),
    "conv2d": Recipe(
        "Conv2D over the (time × feature) plane, mean+std statistics pooling",
        {"hyperparameters": {"architecture": "conv2d", "pooling": "stats"}},
    ),
    "stats_pooling": Recipe(
        "Conv1D with mean+std statistics pooling", {"hyperparameters": {"pooling": "stats"}}
    ),
    "pitch": Recipe(
        "pitch feature group (F0, voicing, ΔF0) added",
        {"feature_config": {"groups": PITCH_GROUPS}},
    ),
    "pitch_stats": Recipe(
        "pitch feature group and mean+std statistics pooling together (the two servable levers "
        "that beat the baseline alone)",
        {"feature_config": {"groups": PITCH_GROUPS}, "hyperparameters": {"pooling": "stats"}},
    ),
    "pitch_stats_ensemble3": Recipe(
        "mean of 3 pitch_stats models (seeds s, s+1, s+2) in one graph",
        ensemble_of="pitch_stats", ensemble_size=3,
    ),
    "speaker_balance": Recipe(
        "every corpus, then every speaker, weighs the same within an emotion",
        {"balance": "speaker"},
    ),
    "channel_augmentation": Recipe(
        "channel augmentation: random microphone EQ and band limits, wider speed, more reverb, "
        "noise 0–30 dB SNR",
        {"augmentation": "channel"},
    ),
    "speaker_normalisation": Recipe(
        "features z-scored per speaker (raw features, looped short utterances; scored speakers "
        "are scaled with their other recordings) instead of per window",
        {"feature_config": {"normalization": "none", "pad_mode": "repeat"},
         "speaker_normalization": True},
    ),
    "speaker_normalisation_one": Recipe(
        "speaker_normalisation's models; each scored recording scaled by one other recording of "
        "its speaker (a single reference clip)",
        reference_of="speaker_normalisation", reference="one",
    ),
    "speaker_normalisation_self": Recipe(
        "speaker_normalisation's models; each scored recording scaled by its own statistics "
        "(no reference)",
        reference_of="speaker_normalisation", reference="self",
    ),
    "more_speakers": Recipe(
        "TurEV-DB + URDU as training speakers, absent emotions masked out of the loss",
        {"extra_corpora": ["turev", "urdu"], "mask_absent_labels": True},
    ),
    "whisper_head": Recipe(
        "Model v3: frozen Whisper tiny.en encoder (every layer, learned weights) + Conv1D "
        "head, statistics pooling", WHISPER_OPTIONS,
    ),
    "whisper_probe": Recipe(
        "the floor: logistic regression on every encoder layer's mean + std over time (C by "
        "speaker-grouped cross-validation on the training speakers)",
        {**WHISPER_OPTIONS, "hyperparameters": {"architecture": "linear_probe"},
         "augment_copies": 0},
    ),
    "whisper_head_middle": Recipe(
        "Model v3 on the encoder's middle blocks 1-3 only (best in the linear probes)",
        {**WHISPER_OPTIONS, "encoder_layers": [1, 2, 3]},
    ),
    "whisper_head_more_speakers": Recipe(
        "Model v3 + nEMO, TurEV-DB and URDU training speakers, absent emotions masked",
        {**WHISPER_OPTIONS, "extra_corpora": ["nemo", "turev", "urdu"],
         "mask_absent_labels": True},
    ),
    "nemo_speakers": Recipe(
        "nEMO's training speakers (Polish) join, disgust masked out of its loss; its fold then "
        "holds nEMO out as usual",
        {"extra_corpora": ["nemo"], "mask_absent_labels": True},
    ),
}  # fmt: skip


def recipe_config(base: JobConfig, recipe: Recipe, seed: int, screen: bool) -> JobConfig:
    """``base`` with the recipe's options, the seed and (when screening) the short schedule."""
    stored = base.recipe()
    for options in (BASELINE_OPTIONS, recipe.options):
        for key, value in options.items():
            stored[key] = stored[key] | value if isinstance(stored.get(key), dict) else value
    if screen:
        stored |= SCREEN
    return dataclasses.replace(base.with_recipe(stored), seed=seed, robustness=False)


def run_key(name: str, config: JobConfig) -> str:
    """File stem of a run: recipe name, seed and a hash of everything that defines it."""
    recipe = config.recipe() | {
        "feature_config": json.loads(config_identity(config.feature_config))
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"{name}__seed{config.seed}__{digest[:10]}"


def train_run(name: str, config: JobConfig, held_out: Sequence[str], runs_dir: Path) -> dict:
    """Train and score one (recipe, seed); store JSON + NPZ; return the JSON record."""
    started = time.time()
    utterances = scan(config, held_out=held_out).utterances
    cache = feature_cache(config)
    full = split_by_speaker([u for u in utterances if trains_on(config, u.corpus)])
    no_test = dataclasses.replace(full, test=[])  # test speakers are not even assembled
    result, _, validation, _ = fit_split(no_test, cache, config)
    arrays = {
        "validation_probabilities": predict_utterances(result.model, validation),
        "validation_truth": validation.utterance_labels,
    }
    # Speaker-normalised models are also scored with less reference speech than the scored
    # speakers' other recordings: one clip, or none (see Recipe.reference).
    references = SCORED_REFERENCES if config.speaker_normalization else ()
    for reference in references:
        windows = load_windows(validation.utterances, cache, config, reference=reference)
        arrays[f"validation_probabilities@{reference}"] = predict_utterances(result.model, windows)
    folds = {}
    for corpus in held_out:
        fold = held_out_corpus_run(config, utterances, corpus, cache)
        other = ~np.array(
            [speaker_id(u) in TEST_SPEAKERS.get(u.corpus, ()) for u in fold.test.utterances]
        )
        arrays[f"{corpus}_probabilities"] = fold.probabilities[other]
        arrays[f"{corpus}_truth"] = fold.test.utterance_labels[other]
        for reference in references:
            windows = load_windows(fold.test.utterances, cache, config, reference=reference)
            arrays[f"{corpus}_probabilities@{reference}"] = predict_utterances(
                fold.result.model, windows
            )[other]
        arrays[f"{corpus}_validation_probabilities"] = fold.validation_probabilities
        arrays[f"{corpus}_validation_truth"] = fold.validation_truth
        folds[corpus] = {"best_epoch": fold.result.best_epoch}
    record = {
        "recipe": name,
        "seed": config.seed,
        "config": config.recipe(),
        "best_epoch": result.best_epoch,
        "folds": folds,
        "seconds": round(time.time() - started, 1),
    }
    runs_dir.mkdir(parents=True, exist_ok=True)
    stem = runs_dir / run_key(name, config)
    np.savez_compressed(
        stem.with_suffix(".npz"),
        **{k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in arrays.items()},
    )
    # JSON last: its presence is what marks the run finished.
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def run_scores(
    arrays: dict[str, np.ndarray], labels: Sequence[str], held_out: Sequence[str]
) -> dict:
    """Validation and held-out-corpus scores of one run's (or ensemble's) probabilities; a
    corpus the run was not scored on (stored before its fold existed) is left out."""
    out = {"validation": score_probabilities(
        arrays["validation_probabilities"], arrays["validation_truth"], labels)}  # fmt: skip
    for corpus in held_out:
        if f"{corpus}_probabilities" not in arrays:
            continue
        out[corpus] = score_probabilities(
            arrays[f"{corpus}_probabilities"], arrays[f"{corpus}_truth"], labels,
            restrict_to_present=True,
        )  # fmt: skip
    return out


def with_reference(arrays: dict[str, np.ndarray], reference: str) -> dict[str, np.ndarray] | None:
    """A run's arrays with each probability set replaced by its ``@reference`` variant; None
    when the run did not store them."""
    suffix = f"@{reference}"
    if f"validation_probabilities{suffix}" not in arrays:
        return None
    return {
        key: arrays.get(f"{key}{suffix}", value) for key, value in arrays.items() if "@" not in key
    }


def recipe_scores(
    name: str, recipe: Recipe, configs: Sequence[JobConfig], runs_dir: Path,
    labels: Sequence[str], held_out: Sequence[str],
) -> list[dict]:  # fmt: skip
    """Scores of every finished seed of a recipe (ensembles: of every finished block of K
    consecutive seeds; blocks do not overlap, since ensembles sharing members are not
    independent samples and would understate the spread)."""
    source = recipe.source or name
    stems = [runs_dir / run_key(source, c) for c in configs]
    finished = [s for s in stems if s.with_suffix(".json").exists()]
    if recipe.reference:
        scored = [with_reference(load_arrays(s.with_suffix(".npz")), recipe.reference)
                  for s in finished]  # fmt: skip
        return [run_scores(a, labels, held_out) for a in scored if a is not None]
    if recipe.ensemble_of is None:
        return [run_scores(load_arrays(s.with_suffix(".npz")), labels, held_out) for s in finished]
    out = []
    k = recipe.ensemble_size
    for start in range(0, len(stems) - k + 1, k):
        members = stems[start : start + k]
        if not all(m.with_suffix(".json").exists() for m in members):
            continue
        loaded = [load_arrays(m.with_suffix(".npz")) for m in members]
        mean = {key: (np.mean([a[key] for a in loaded], axis=0) if key.endswith("probabilities")
                      else loaded[0][key]) for key in loaded[0]}  # fmt: skip
        out.append(run_scores(mean, labels, held_out))
    return out


def mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "–"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return (
        f"{100 * np.mean(values):.1f} ± {100 * sd:.1f}"
        if len(values) > 1
        else f"{100 * values[0]:.1f}"
    )


def table(
    rows: dict[str, list[dict]], recipes: dict[str, Recipe], held_out: Sequence[str], schedule: str
) -> str:
    """Markdown: one row per recipe, seed mean ± standard deviation of each figure.

    The mean is over the held-out corpora that every scored run has, so rows stay comparable
    when a fold is added after some runs were stored."""
    scored = [s for scores in rows.values() for s in scores]
    common = [c for c in held_out if all(c in s for s in scored)]
    head = ["recipe", "seeds", "validation acc", *[f"{c} acc (UAR)" for c in held_out],
            f"mean held-out acc ({', '.join(common)})",
            f"largest class share (≤ {MAX_CLASS_SHARE:.0%})"]  # fmt: skip
    lines = [
        f"# Recipe comparison ({schedule} schedule)", "", DECISION_RULE, "",
        "Protocol: validation speakers of the usual split (RAVDESS 05 06 15 16, EMO-DB 13); each "
        "held-out corpus trained without it and scored on its non-test speakers only, choosing "
        "among the labels it contains. 7 classes. Accuracy %, seed mean ± standard deviation.",
        "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
    ]  # fmt: skip
    for name, scores in rows.items():
        if not scores:
            lines.append(f"| {name} | 0 | " + " | ".join(["–"] * (len(head) - 2)) + " |")
            continue
        cells = [name, str(len(scores)), mean_sd([s["validation"]["accuracy"] for s in scores])]
        for corpus in held_out:
            have = [s[corpus] for s in scores if corpus in s]
            if len(have) < len(scores):  # not every seed has the fold: no partial mean
                cells.append("–")
                continue
            acc = mean_sd([m["accuracy"] for m in have])
            cells.append(f"{acc} ({100 * np.mean([m['uar'] for m in have]):.1f})")
        cells.append(mean_sd([np.mean([s[c]["accuracy"] for c in common]) for s in scores]))
        shares = [
            max(s[c]["prediction_distribution"].values()) / max(1, s[c]["n"])
            for s in scores for c in held_out if c in s
        ]  # fmt: skip
        cells.append(f"{100 * max(shares):.0f}%")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Recipes:", "", *[f"- **{n}**: {recipes[n].description}" for n in rows], ""]
    return "\n".join(lines)


def run_comparison(
    base: JobConfig, names: Sequence[str], *, seeds: int, screen: bool, runs_dir: Path,
    held_out: Sequence[str], echo: Callable[[str], None] = print,
) -> str:  # fmt: skip
    """Train every missing (recipe, seed) run, then write and return the comparison table."""
    schedule = "screening" if screen else "full"
    configs = {}
    for name, recipe in RECIPES.items():
        source = RECIPES[recipe.source] if recipe.source else recipe
        count = seeds * recipe.ensemble_size  # an ensemble's samples share no member
        try:
            configs[name] = [
                recipe_config(base, source, base.seed + i, screen) for i in range(count)
            ]
        except ValueError as error:  # e.g. a feature group this ser_features does not have
            if name in names:
                raise
            echo(f"recipe {name} unavailable here: {error}")
            configs[name] = []
    for name in names:
        recipe = RECIPES[name]
        for config in configs[name]:
            key = run_key(recipe.source or name, config)
            if (runs_dir / f"{key}.json").exists():
                continue
            echo(f"training {key} ({recipe.description})")
            record = train_run(recipe.source or name, config, held_out, runs_dir)
            echo(f"  done in {record['seconds']:.0f} s")
    # Every recipe with a finished run is in the table, whichever invocation trained it.
    rows = {
        name: recipe_scores(name, recipe, configs[name], runs_dir, base.labels, held_out)
        for name, recipe in RECIPES.items()
    }
    text = table(rows, RECIPES, held_out, schedule)
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / f"comparison_{schedule}.md").write_text(text)
    return text
