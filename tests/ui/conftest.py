"""Fixtures for the web app's tests: a stub API client and synthesized predictions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from ser_inference import Calibration
from ser_ui import client as api

LABELS = ("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised")


# The product's default arousal/valence mapping, as an uncalibrated API would report it.
MAPPING = Calibration.default(LABELS)


def _dimensions(probabilities: dict[str, float]) -> dict[str, float]:
    return {
        "arousal": sum(p * MAPPING.arousal[label] for label, p in probabilities.items()),
        "valence": sum(p * MAPPING.valence[label] for label, p in probabilities.items()),
    }


def make_segment(
    start_s: float, end_s: float, emotion: str | None, confidence: float | None = None
) -> api.Segment:
    """A timeline window; ``emotion=None`` makes a silent one (all answer fields null)."""
    if emotion is None:
        return api.Segment(
            start_s=start_s, end_s=end_s, silent=True, emotion=None, confidence=None,
            probabilities=None,
        )  # fmt: skip
    confidence = 0.6 if confidence is None else confidence
    rest = (1.0 - confidence) / (len(LABELS) - 1)
    probabilities = {label: (confidence if label == emotion else rest) for label in LABELS}
    return api.Segment(
        start_s=start_s, end_s=end_s, silent=False, emotion=emotion, confidence=confidence,
        probabilities=probabilities, uncertain=False, **_dimensions(probabilities),
    )  # fmt: skip


def make_prediction(
    emotion: str = "happy",
    confidence: float = 0.62,
    *,
    duration_s: float = 1.5,
    segments: Sequence[api.Segment] = (),
    uncertain: bool = False,
) -> api.Prediction:
    """A contract-shaped prediction whose probabilities sum to 1 with ``emotion`` on top."""
    rest = (1.0 - confidence) / (len(LABELS) - 1)
    probabilities = {label: (confidence if label == emotion else rest) for label in LABELS}
    return api.Prediction(
        emotion=emotion,
        confidence=confidence,
        uncertain=uncertain,
        **_dimensions(probabilities),
        probabilities=probabilities,
        duration_s=duration_s,
        sample_rate=16_000,
        channels=1,
        format="WAV",
        model_version="stub-1",
        segments=list(segments),
        timing={"features_ms": 1.0, "inference_ms": 1.0},
    )


CALIBRATION_METRICS = {
    "test_speakers": {
        "ece_uncalibrated": 0.14, "ece_calibrated": 0.07, "arousal_accuracy": 0.845,
        "valence_sign_accuracy": 0.854, "at_threshold": {"accuracy": 0.81, "coverage": 0.39},
    }
}  # fmt: skip


def make_model_info() -> api.ModelInfo:
    return api.ModelInfo(
        labels=LABELS,
        model_version="stub-1",
        feature_config={"window_s": 3.0, "sample_rate": 16_000},
        input_shape=[None, 300, 40],
        metrics={
            "protocol": "speaker-independent test split: 4 held-out speakers per corpus",
            "test": {
                "accuracy": 0.71,
                "uar": 0.66,
                "macro_f1": 0.64,
                "n": 812,
                "per_class": {
                    "happy": {"precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 120}
                },
            },
            "calibration": CALIBRATION_METRICS,
        },
        training_data={
            "corpora": [{"name": "RAVDESS", "clips": 1440, "license": "CC BY-NC-SA 4.0"}]
        },
        license="Trained on CC BY-NC-SA 4.0 data: non-commercial use only.",
        calibration={
            **MAPPING.to_dict(),
            "calibrated": True,
            "temperature": 1.02,
            "uncertain_below": 0.705,
            "fitted_on": "validation speakers",
        },
        runtime={},
        limits={
            "max_upload_bytes": 128 * 1024 * 1024,
            "min_duration_s": 0.25,
            "max_duration_s": 600.0,
            "max_batch_files": 64,
        },
    )


@dataclass
class StubApiClient:
    """Stands in for :class:`ser_ui.client.ApiClient`; records calls, answers from scripts.

    Each behaviour is a callable so a test can return a value or raise an ApiError.
    """

    base_url: str = "http://stub-api:8000"
    api_key: str | None = None
    predict_fn: Callable[[api.AudioFile], api.Prediction] = lambda audio: make_prediction()
    batch_fn: Callable[[Sequence[api.AudioFile]], list[api.BatchItem]] | None = None
    model_info_fn: Callable[[], api.ModelInfo] = make_model_info
    calls: list[str] = field(default_factory=list)

    def predict(self, audio: api.AudioFile) -> api.Prediction:
        self.calls.append(f"predict:{audio.name}")
        return self.predict_fn(audio)

    def predict_batch(self, audios: Sequence[api.AudioFile]) -> list[api.BatchItem]:
        self.calls.append("batch:" + ",".join(audio.name for audio in audios))
        if self.batch_fn is not None:
            return self.batch_fn(audios)
        return [
            api.BatchItem(filename=audio.name, prediction=self.predict_fn(audio))
            for audio in audios
        ]

    def model_info(self) -> api.ModelInfo:
        self.calls.append("model_info")
        return self.model_info_fn()

    def close(self) -> None:
        pass


@pytest.fixture
def stub_client(monkeypatch: pytest.MonkeyPatch) -> StubApiClient:
    """Every ``ApiClient.from_env()`` the app makes returns this one stub."""
    stub = StubApiClient()
    monkeypatch.setattr(api.ApiClient, "from_env", classmethod(lambda cls, environ=None: stub))
    return stub


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the test item, so fixtures can tell that a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
