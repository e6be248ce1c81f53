"""Arousal and valence: derived from the class probabilities, or learned by a head of their own?

Issue 12 asks for whichever measures better on corpora the model never saw. The derived answer
(``ser_inference.affect.arousal_valence``) sums calibrated class probabilities through a fixed
mapping. The learned answer is a second head on the classifier's output: a logistic regression
on the calibrated log-probabilities, one for high-vs-low arousal and one for the valence sign.

Protocol (the comparison's stored held-out-corpus folds, no test speaker anywhere): for each
fold corpus, the temperature and the learned heads are fitted on that fold's validation speakers
and on the *other* corpora's held-out predictions (each part weighing the same, as in
``recalibration.fit_calibration``); both answers are scored on the fold corpus's non-test
speakers. Figures are mean ± SD over the runs (seeds); the decision compares, per run, the
mean over the corpora, and (as in ``compare``) a difference smaller than the larger SD is a tie,
settled for the derived answer: it needs nothing fitted on other models' outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ser_features import utterance_probabilities
from ser_inference.affect import Calibration, arousal_valence
from ser_training.calibration.shifted import shifted_set
from ser_training.calibration.temperature import CalibrationSet, fit_shared_temperature, tempered
from ser_training.evaluation.runs import load_arrays

L2_PENALTY = 1.0  # on the weights (not the bias), in units of the summed example weights
NEWTON_STEPS = 50
LOG_FLOOR = 1e-9  # keeps log-probabilities finite


def fit_logistic(
    features: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Weighted, L2-regularised logistic regression by Newton's method.

    Parameters
    ----------
    features : np.ndarray, shape (n, d)
    target : np.ndarray, shape (n,), bool
    weights : np.ndarray, shape (n,), optional; example weights (default all 1)

    Returns
    -------
    np.ndarray, shape (d + 1,): the weights, then the bias
    """
    x = np.hstack([np.asarray(features, np.float64), np.ones((len(features), 1))])
    y = np.asarray(target, np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    penalty = np.full(x.shape[1], L2_PENALTY / len(y))
    penalty[-1] = 0.0  # the bias is not shrunk
    beta = np.zeros(x.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (w * (p - y)) + penalty * beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def logistic_probability(beta: np.ndarray, features: np.ndarray) -> np.ndarray:
    """P(target) of :func:`fit_logistic`'s model, shape (n,)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(features, np.float64) @ beta[:-1] + beta[-1])))


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probabilities, LOG_FLOOR))


def fit_heads(
    sets: Sequence[CalibrationSet], temperature: float, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The learned heads on the calibrated utterance log-probabilities of ``sets`` (each set
    weighing the same, as for the temperature): high-vs-low arousal over every utterance, and
    the valence sign over the utterances of a signed-valence emotion.

    Returns
    -------
    (arousal head, valence-sign head), each of shape (n_labels + 1,) (weights, then bias)
    """
    high, valence = Calibration.default(labels).vectors(labels)
    probabilities = np.concatenate([
        utterance_probabilities(tempered(s.window_probabilities, temperature), s.utterance)
        for s in sets
    ])  # fmt: skip
    truth = np.concatenate([s.truth for s in sets])
    weights = np.concatenate([np.full(len(s.truth), 1.0 / len(s.truth)) for s in sets])
    signed = valence[truth] != 0
    return (
        fit_logistic(_log(probabilities), high[truth] > 0.5, weights),
        fit_logistic(_log(probabilities[signed]), valence[truth][signed] > 0, weights[signed]),
    )


def arousal_head_calibration(calibration: Calibration, head: np.ndarray) -> Calibration:
    """``calibration`` answering arousal with the learned ``head`` (see fit_heads)."""
    labels = list(calibration.arousal)
    return dataclasses.replace(
        calibration,
        arousal_weights={label: float(w) for label, w in zip(labels, head[:-1], strict=True)},
        arousal_bias=float(head[-1]),
    )


def compare_affect_heads(runs_dir: Path, recipe: str, labels: Sequence[str]) -> dict[str, dict]:
    """Derived against learned arousal/valence on each held-out corpus (see the module).

    Returns corpus (and "mean", the per-run mean over corpora) → {"runs", "per_run",
    "derived"/"learned"/"sd": {"arousal_accuracy", "valence_sign_accuracy"},
    "always_high_arousal", "always_negative_valence"}, accuracies in [0, 1] (means over runs).
    """

    runs = [load_arrays(p) for p in sorted(runs_dir.glob(f"{recipe}__*.npz"))]
    corpora = sorted(
        k.removesuffix("_validation_probabilities")
        for k in (runs[0] if runs else {})
        if k.endswith("_validation_probabilities") and k != "validation_probabilities"
    )
    mapping = Calibration.default(labels)
    high, valence = mapping.vectors(labels)
    out: dict[str, dict] = {}
    for corpus in corpora:
        shifted = shifted_set(runs_dir, recipe, len(labels), exclude=corpus)
        if shifted is None:  # a single fold corpus: nothing unseen to fit the heads on
            continue
        figures = []
        for run in runs:
            own = CalibrationSet.of_utterances(
                run[f"{corpus}_validation_probabilities"], run[f"{corpus}_validation_truth"]
            )
            temperature = fit_shared_temperature([own, shifted])
            arousal_head, valence_head = fit_heads([own, shifted], temperature, labels)
            scored = tempered(run[f"{corpus}_probabilities"], temperature)
            truth = run[f"{corpus}_truth"]
            true_high = high[truth] > 0.5
            scored_signed = valence[truth] != 0
            true_positive = valence[truth][scored_signed] > 0
            derived_arousal, derived_valence = arousal_valence(scored, labels, mapping)
            learned_arousal = logistic_probability(arousal_head, _log(scored))
            learned_positive = logistic_probability(valence_head, _log(scored[scored_signed]))
            figures.append({
                "derived": {
                    "arousal_accuracy": float(((derived_arousal > 0.5) == true_high).mean()),
                    "valence_sign_accuracy": float(
                        ((derived_valence[scored_signed] > 0) == true_positive).mean()
                    ),
                },
                "learned": {
                    "arousal_accuracy": float(((learned_arousal > 0.5) == true_high).mean()),
                    "valence_sign_accuracy": float(
                        ((learned_positive > 0.5) == true_positive).mean()
                    ),
                },
                "always_high_arousal": float(true_high.mean()),
                "always_negative_valence": float((~true_positive).mean()),
            })  # fmt: skip
        out[corpus] = _aggregate(figures)
    if out:
        # Per run, the mean over corpora; then mean ± SD over runs (the decision's unit).
        per_run = [
            {kind: {key: float(np.mean([out[c]["per_run"][i][kind][key] for c in out]))
                    for key in ("arousal_accuracy", "valence_sign_accuracy")}
             for kind in ("derived", "learned")}
            | {key: float(np.mean([out[c]["per_run"][i][key] for c in out]))
               for key in ("always_high_arousal", "always_negative_valence")}
            for i in range(len(runs))
        ]  # fmt: skip
        out["mean"] = _aggregate(per_run)
    return out


def learned_arousal_wins(runs_dir: Path | None, recipe: str, labels: Sequence[str]) -> bool:
    """The module's decision for one recipe, from its stored held-out-corpus folds: the learned
    arousal head only when its per-run mean over corpora beats the derived mapping's by more
    than the larger SD over runs (else a tie, settled for the derived answer). False without
    runs to decide on."""
    if runs_dir is None or not runs_dir.is_dir():
        return False
    mean = compare_affect_heads(runs_dir, recipe, labels).get("mean")
    if mean is None:
        return False
    key = "arousal_accuracy"
    margin = mean["learned"][key] - mean["derived"][key]
    return margin > max(mean["sd"]["learned"][key], mean["sd"]["derived"][key])


def _aggregate(figures: list[dict]) -> dict:
    """Mean and SD over runs of per-run figures."""
    kinds = ("derived", "learned")
    keys = ("arousal_accuracy", "valence_sign_accuracy")
    return {
        "runs": len(figures),
        "per_run": figures,
        **{kind: {key: float(np.mean([f[kind][key] for f in figures])) for key in keys}
           for kind in kinds},
        "sd": {kind: {key: float(np.std([f[kind][key] for f in figures], ddof=1))
                      if len(figures) > 1 else 0.0 for key in keys} for kind in kinds},
        **{key: float(np.mean([f[key] for f in figures]))
           for key in ("always_high_arousal", "always_negative_valence")},
    }  # fmt: skip


def affect_heads_table(figures: dict[str, dict], recipe: str, runs_dir: Path) -> str:
    """Markdown: one row per held-out corpus, derived vs learned, with the trivial baselines."""
    lines = [
        "# Arousal and valence: derived from the class probabilities vs a learned head",
        "",
        f"Runs: the comparison's '{recipe}' runs in `{runs_dir.as_posix()}`. Each held-out corpus "
        "is scored on its non-test speakers by models trained without it; the temperature and "
        "the learned heads (logistic regressions on the calibrated log-probabilities) are fitted "
        "on the fold's validation speakers and the other corpora's held-out predictions, never "
        "on the scored corpus. Accuracy %, mean over runs.",
        "",
        "| held-out corpus | runs | arousal: derived | arousal: learned | always high | "
        "valence sign: derived | valence sign: learned | always negative |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(f: dict, kind: str, key: str) -> str:
        spread = f" ± {f['sd'][kind][key]:.1%}" if f["runs"] > 1 else ""
        return f"{f[kind][key]:.1%}{spread}"

    for corpus, f in figures.items():
        name = "**mean of the corpora**" if corpus == "mean" else corpus
        lines.append(
            f"| {name} | {f['runs']} | {cell(f, 'derived', 'arousal_accuracy')} | "
            f"{cell(f, 'learned', 'arousal_accuracy')} | {f['always_high_arousal']:.1%} | "
            f"{cell(f, 'derived', 'valence_sign_accuracy')} | "
            f"{cell(f, 'learned', 'valence_sign_accuracy')} | {f['always_negative_valence']:.1%} |"
        )
    return "\n".join(lines) + "\n"
