"""Scoring audio as it arrives: the windows of ``/predict``'s timeline, each as soon as its
last sample is in.

:class:`StreamWindower` cuts an unbounded signal into the windows
``ser_features.split_windows(samples, config, trim=False)`` cuts from the whole signal: one of
``window_s`` every ``window_hop_s`` from the first sample, and at the end (:meth:`finish`) the
last one aligned to the end, or, for a stream shorter than one window, that one padded window.
Each window is built by ``split_windows`` itself (same samples, padding, level and silence
decision), so nothing of the window rule is copied here. :class:`StreamScorer` sends each
window through the classifier's own feature extractor, model and :func:`judge`, and
summarises the stream with ``utterance_probabilities``, the rule ``/predict`` uses.

What cannot match ``/predict``: ``/predict`` first trims leading and trailing silence, by a
threshold relative to the *loudest* frame of the whole recording, which a stream cannot know
until it ends. The stream does not trim: its windows start at its first sample, and silence
is judged per window by the same absolute level (``silence_dbfs``) that ``/predict`` applies
to each window. For a recording that ``/predict`` does not trim (voice from its first to its
last 64 ms frame), the windows and the summary are the same numbers (tests/inference,
tests/api); with silence at the start, ``/predict``'s windows are shifted by the trimmed
length, and the stream's extra silent windows are reported ``silent``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ser_features import FeatureConfig, Window, split_windows, utterance_probabilities
from ser_inference.classifier import EmotionClassifier, Judgement, WindowPrediction, judge
from ser_inference.profile import SpeakerStats


class StreamWindower:
    """Cut a signal that arrives in pieces into model windows, holding only what it still needs.

    Parameters
    ----------
    config : the model's feature configuration (sample rate, window and hop lengths)
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.size = config.window_samples  # samples per window
        self.hop = max(1, round(config.window_hop_s * config.sample_rate))  # as split_windows
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # stream index (samples) of self._buffer[0]
        self.received = 0  # samples pushed so far
        self._next_start = 0  # stream index of the next window to cut
        self._last_end = 0  # end (stream index) of the last window cut; 0: none yet
        self.finished = False

    @property
    def held(self) -> int:
        """Samples held now: at most a window, a hop and the last push's worth."""
        return len(self._buffer)

    @property
    def received_s(self) -> float:
        """Seconds of audio pushed so far."""
        return self.received / self.config.sample_rate

    def push(self, samples: np.ndarray) -> list[Window]:
        """Append audio; return the windows it completed, in time order.

        Parameters
        ----------
        samples : np.ndarray, shape (n,), float32 at ``config.sample_rate``
        """
        if self.finished:
            raise RuntimeError("the stream was finished; start a new one")
        if len(samples):
            self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
            self.received += len(samples)
        windows = []
        while self._next_start + self.size <= self.received:
            windows.append(self._cut(self._next_start, self._next_start + self.size))
            self._next_start += self.hop
        self._forget()
        return windows

    def finish(self) -> list[Window]:
        """The stream ended: the window that covers its tail, if any (``split_windows``'
        last window aligned to the end, or the one padded window of a short stream)."""
        if self.finished:
            return []
        self.finished = True
        if self.received == 0:
            return []
        if self.received <= self.size:
            return [] if self._last_end else [self._cut(0, self.received)]
        if self._last_end < self.received:
            return [self._cut(self.received - self.size, self.received)]
        return []

    def _cut(self, start: int, end: int) -> Window:
        """The window of stream samples [start, end): ``split_windows`` on exactly those
        samples (one window, untrimmed), placed at ``start``."""
        chunk = self._buffer[start - self._buffer_start : end - self._buffer_start]
        (window,) = split_windows(chunk, self.config, trim=False)
        rate = self.config.sample_rate
        self._last_end = end
        # The times as split_windows computes them for the whole signal: (0 + offset) / rate.
        return dataclasses.replace(window, start_s=start / rate, end_s=end / rate)

    def _forget(self) -> None:
        """Drop samples no future window needs: before the next window's start, except the
        last window's worth, which the end-aligned final window may reuse."""
        keep_from = min(self._next_start, max(0, self.received - self.size))
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:].copy()  # copy: free the old array
            self._buffer_start = keep_from


@dataclass(frozen=True, slots=True)
class StreamAnswer:
    """The whole stream's answer (``/predict``'s top level), or silent when nothing was voiced."""

    probabilities: np.ndarray | None  # shape (n_labels,), float64; None when all silent
    judgement: Judgement | None  # None when all silent
    duration_s: float  # s of audio received
    n_windows: int  # windows scored, silent ones included


class StreamScorer:
    """One stream: windows in, :class:`WindowPrediction`s out, then the summary.

    Not thread-safe: one caller (one stream) at a time; the classifier itself is shared.

    Parameters
    ----------
    classifier : the same classifier ``/predict`` serves
    stats : a usable speaker profile (issue 24): every window is answered by the adapted head
        standardised with it, as ``/predict?speaker=ID`` answers its segments; None: plain
    """

    def __init__(self, classifier: EmotionClassifier, stats: SpeakerStats | None = None) -> None:
        self.classifier = classifier
        self.stats = stats
        self.calibration = (
            classifier.calibration if stats is None else classifier.adapted_calibration
        )
        self.windower = StreamWindower(classifier.config)
        self._voiced: list[np.ndarray] = []  # per voiced window, shape (n_labels,)
        self.n_windows = 0

    def push(self, samples: np.ndarray) -> list[WindowPrediction]:
        """Append audio (shape (n,), float32 at the model's rate); score completed windows."""
        return self.score(self.windower.push(samples))

    def finish(self) -> tuple[list[WindowPrediction], StreamAnswer]:
        """Score the last window and summarise the stream."""
        last = self.score(self.windower.finish())
        probabilities = judgement = None
        if self._voiced:
            probabilities = utterance_probabilities(np.stack(self._voiced))[0]
            judgement = judge(probabilities, self.classifier.labels, self.calibration)
        answer = StreamAnswer(
            probabilities=probabilities,
            judgement=judgement,
            duration_s=self.windower.received_s,
            n_windows=self.n_windows,
        )
        return last, answer

    def score(self, windows: list[Window]) -> list[WindowPrediction]:
        """Windows → predictions, the voiced ones through the model in one batch.

        The features and model are the classifier's own (``/predict`` calls the same
        ``batch_features`` and ``run``); a window's features do not depend on its batch.
        """
        if not windows:
            return []
        classifier = self.classifier
        voiced = [w for w in windows if not w.silent]
        output = np.zeros((0, len(classifier.labels)), dtype=np.float32)
        if voiced:
            features = classifier.extractor.batch_features(
                np.stack([w.samples for w in voiced]), [w.n_audio for w in voiced]
            )
            output = (
                classifier.run(features)
                if self.stats is None
                else classifier.run_adapted(features, self.stats)[1]
            )
        rows = iter(output)
        predictions = []
        for window in windows:
            probabilities = None if window.silent else next(rows)
            if probabilities is not None:
                self._voiced.append(probabilities)
            predictions.append(
                WindowPrediction(
                    start_s=window.start_s,
                    end_s=window.end_s,
                    rms_dbfs=window.rms_dbfs,
                    silent=window.silent,
                    probabilities=probabilities,
                    judgement=None
                    if probabilities is None
                    else judge(probabilities, classifier.labels, self.calibration),
                )
            )
        self.n_windows += len(windows)
        return predictions
