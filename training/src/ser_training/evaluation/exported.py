"""Score an exported ONNX model on a corpus, through the classifier the API serves with.

A corpus the model never trained on is a held-out-corpus measurement of *that* model (not of
its recipe retrained without the corpus, which `evaluate` reports): the figure a user of the
shipped model meets. No TensorFlow: ``ser_inference`` runs the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ser_inference.classifier import AudioError, AudioLimits, EmotionClassifier
from ser_training.data.corpora import Utterance
from ser_training.evaluation.metrics import score_probabilities, speaker_group_scores

# Corpus files are whole recordings: allow any length the API allows for one upload.
SCORING_LIMITS = AudioLimits()


def score_exported_model(model_path: Path, utterances: Sequence[Utterance]) -> dict:
    """Utterance-level scores of ``model_path`` on ``utterances``, choosing among the labels
    they contain (a corpus without disgust is not charged for it).

    Returns the metrics of :func:`score_probabilities` plus ``n_files`` (utterances given),
    ``unscorable`` (files the classifier refused, e.g. no voiced window: path → reason; they
    are not in ``n``) and ``by_speakers`` (the corpus's usual test speakers and the rest).
    """
    classifier = EmotionClassifier.load(model_path)
    labels = list(classifier.labels)
    rows, truth, kept, unscorable = [], [], [], {}
    for utterance in utterances:
        if utterance.label not in labels:
            continue
        try:
            prediction = classifier.predict(utterance.path, SCORING_LIMITS)
        except AudioError as error:
            unscorable[str(utterance.path)] = str(error)
            continue
        rows.append(prediction.probabilities)
        truth.append(labels.index(utterance.label))
        kept.append(utterance)
    if not rows:
        raise ValueError("no scorable utterance with a label the model knows")
    probabilities, truth_array = np.array(rows), np.array(truth)
    scores = score_probabilities(probabilities, truth_array, labels, restrict_to_present=True)
    scores["by_speakers"] = speaker_group_scores(kept, probabilities, truth_array, labels)
    scores["n_files"] = sum(u.label in labels for u in utterances)
    scores["unscorable"] = unscorable
    scores["model_version"] = classifier.model_version
    return scores
