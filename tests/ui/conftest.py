"""Fixtures for the web app's tests: a stub API client and synthesized predictions.

Every answer the stub gives is built through the API's own response models (``ser_contract``,
validated on construction), so it cannot drift from what the API may send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from ser_features.model_metadata import AdaptationMetadata
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


def _probabilities(emotion: str, confidence: float) -> dict[str, float]:
    rest = (1.0 - confidence) / (len(LABELS) - 1)
    return {label: (confidence if label == emotion else rest) for label in LABELS}


def make_plain(emotion: str = "neutral", confidence: float = 0.5, **overrides: Any) -> api.Plain:
    """The plain head's answer, as the API gives it beside an adapted one."""
    probabilities = _probabilities(emotion, confidence)
    fields = {"emotion": emotion, "confidence": confidence, "uncertain": False,
              "probabilities": probabilities, **_dimensions(probabilities)}  # fmt: skip
    return api.Plain(**fields | overrides)


def make_prediction(
    emotion: str = "happy",
    confidence: float = 0.62,
    *,
    duration_s: float = 1.5,
    segments: Sequence[api.Segment] = (),
    uncertain: bool = False,
    **adaptation: Any,
) -> api.Prediction:
    """A contract-shaped prediction whose probabilities sum to 1 with ``emotion`` on top;
    ``adaptation``: the speaker fields (``speaker``, ``adapted``, ``adaptation_reason``,
    ``plain``)."""
    probabilities = _probabilities(emotion, confidence)
    return api.Prediction(
        **adaptation,
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


# What GET /model says of a model with a speaker-adapted head (the API serves the model's
# adaptation metadata as it is).
ADAPTATION = AdaptationMetadata(
    n_features=64, layers=("block_3",), statistics="per layer: mean then std",
    std_floor=0.05, min_windows=8, max_dominant_share=0.7, temperature=1.1,
    uncertain_below=0.4, fitted_on="validation speakers",
).to_dict()  # fmt: skip
WINDOWS_PER_CLIP = 3  # voiced windows the stub counts for each enrolled clip
DOMAIN_MIN_WINDOWS = 12  # the stub model's domain rule: 4 recordings


def make_model_info(adaptation: dict[str, Any] | None = None) -> api.ModelInfo:
    """GET /model of the stub; ``adaptation``: its speaker-adapted head (none by default)."""
    return api.ModelInfo(
        adaptation=adaptation,
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
            "max_enrol_files": 64,
        },
    )


def make_speaker(
    clips: int = 1, *, speaker: str = "spk-1", updated_at: str = "2026-12-06T20:00:00Z"
) -> api.Speaker:
    """A profile of ``clips`` clips, usable once it holds ADAPTATION's ``min_windows``."""
    windows = WINDOWS_PER_CLIP * clips
    needed = ADAPTATION["min_windows"]
    reason = (
        None
        if windows >= needed
        else f"too little speech: {windows} voiced window(s), at least {needed} needed (add clips)"
    )
    return api.Speaker(
        speaker=speaker, clips=clips, seconds=1.5 * clips, windows=windows,
        usable=reason is None, reason=reason, created_at="2026-12-06T19:00:00Z",
        updated_at=updated_at,
    )  # fmt: skip


def make_adapted(audio: api.AudioFile, speaker: str) -> api.Prediction:
    """What POST /predict?speaker=ID answers for a usable profile: sad, where the plain head
    hears neutral."""
    return make_prediction(
        "sad", 0.74, speaker=speaker, adapted=True, plain=make_plain("neutral", 0.55)
    )


@dataclass
class StubApiClient:
    """Stands in for :class:`ser_ui.client.ApiClient`; records calls, answers from scripts.

    Each behaviour is a callable so a test can return a value or raise an ApiError.
    """

    base_url: str = "http://stub-api:8000"
    api_key: str | None = None
    predict_fn: Callable[[api.AudioFile], api.Prediction] = lambda audio: make_prediction()
    # POST /predict?speaker=ID
    speaker_predict_fn: Callable[[api.AudioFile, str], api.Prediction] = make_adapted
    batch_fn: Callable[[Sequence[api.AudioFile]], list[api.BatchItem]] | None = None
    model_info_fn: Callable[[], api.ModelInfo] = make_model_info
    # The API's profiles: id → clips enrolled. ``speaker_error`` (when set) is raised by
    # the next speaker call instead of answering.
    speakers: dict[str, int] = field(default_factory=dict)
    speaker_error: api.ApiError | None = None
    domains: dict[str, int] = field(default_factory=dict)  # id → recordings
    domain_error: api.ApiError | None = None  # raised by the next create_domain
    calls: list[str] = field(default_factory=list)

    def predict(
        self, audio: api.AudioFile, *, speaker: str | None = None, adapt_self: bool = False,
        domain: str | None = None,
    ) -> api.Prediction:  # fmt: skip
        if domain is not None:
            self.calls.append(f"predict:{audio.name}?domain={domain}")
            if domain not in self.domains:
                raise api.ApiRejectedError(
                    f"no domain profile '{domain}' for this API key", status_code=404,
                    endpoint="POST /predict",
                )  # fmt: skip
            return make_prediction(adapted=True, plain=make_plain(), domain=domain,
                                   adaptation="domain")  # fmt: skip
        if speaker is None and not adapt_self:
            self.calls.append(f"predict:{audio.name}")
            return self.predict_fn(audio)
        self.calls.append(f"predict:{audio.name}?speaker={speaker}")
        assert speaker is not None, "the page never asks for adapt=self"
        if speaker not in self.speakers:
            raise api.ApiRejectedError(
                f"Unknown speaker profile '{speaker}'.", status_code=404, endpoint="POST /predict"
            )
        return self.speaker_predict_fn(audio, speaker)

    def _speaker_call(self, call: str) -> None:
        self.calls.append(call)
        if self.speaker_error is not None:
            error, self.speaker_error = self.speaker_error, None
            raise error

    def _profile(self, speaker_id: str, endpoint: str) -> api.Speaker:
        if speaker_id not in self.speakers:
            raise api.ApiRejectedError(
                f"Unknown speaker profile '{speaker_id}'.", status_code=404, endpoint=endpoint
            )
        clips = self.speakers[speaker_id]
        return make_speaker(clips, speaker=speaker_id, updated_at=f"2026-12-06T20:00:{clips:02d}Z")

    def enrol(self, audios: Sequence[api.AudioFile]) -> api.Speaker:
        self._speaker_call("enrol:" + ",".join(audio.name for audio in audios))
        speaker_id = f"spk-{len(self.speakers) + 1}"
        self.speakers[speaker_id] = len(audios)
        return self._profile(speaker_id, "POST /speakers")

    def add_clips(self, speaker_id: str, audios: Sequence[api.AudioFile]) -> api.Speaker:
        self._speaker_call(f"add_clips:{speaker_id}:" + ",".join(a.name for a in audios))
        profile = self._profile(speaker_id, "POST /speakers/{id}/clips")
        self.speakers[speaker_id] = profile.clips + len(audios)
        return self._profile(speaker_id, "POST /speakers/{id}/clips")

    def list_speakers(self) -> list[api.Speaker]:
        self._speaker_call("list_speakers")
        return [self._profile(s, "GET /speakers") for s in self.speakers]

    def get_speaker(self, speaker_id: str) -> api.Speaker:
        self._speaker_call(f"get_speaker:{speaker_id}")
        return self._profile(speaker_id, "GET /speakers/{id}")

    def delete_speaker(self, speaker_id: str) -> None:
        self._speaker_call(f"delete_speaker:{speaker_id}")
        self._profile(speaker_id, "DELETE /speakers/{id}")
        del self.speakers[speaker_id]

    def _domain(self, domain_id: str) -> api.Domain:
        clips = self.domains[domain_id]
        windows = WINDOWS_PER_CLIP * clips
        needed = DOMAIN_MIN_WINDOWS
        return api.Domain(
            domain=domain_id, clips=clips, seconds=3.0 * clips, windows=windows,
            usable=windows >= needed,
            reason=None if windows >= needed else f"too little speech: {windows} voiced "
            f"window(s), at least {needed} needed (add clips)",
            created_at=f"2026-12-07T10:00:{len(self.domains):02d}+00:00",
            updated_at="2026-12-07T10:00:00+00:00",
        )  # fmt: skip

    def list_domains(self) -> list[api.Domain]:
        self.calls.append("list_domains")
        return [self._domain(d) for d in self.domains]

    def create_domain(self, audios: Sequence[api.AudioFile]) -> api.Domain:
        self.calls.append("create_domain:" + ",".join(audio.name for audio in audios))
        if self.domain_error is not None:
            error, self.domain_error = self.domain_error, None
            raise error
        domain_id = f"dom-{len(self.domains) + 1}"
        self.domains[domain_id] = len(audios)
        return self._domain(domain_id)

    def delete_domain(self, domain_id: str) -> None:
        self.calls.append(f"delete_domain:{domain_id}")
        del self.domains[domain_id]

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
