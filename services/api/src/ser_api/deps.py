"""Typed dependencies: what a route needs, taken from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ser_api.admission import Admission
from ser_api.auth import request_owner
from ser_api.config import Settings
from ser_api.metrics import Metrics
from ser_api.speakers_store import SpeakerStore
from ser_inference import EmotionClassifier


def get_settings_from_app(request: Request) -> Settings:
    return request.app.state.settings


def get_classifier(request: Request) -> EmotionClassifier:
    # Set by the lifespan before the first request; the app never serves without it.
    return request.app.state.classifier


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_admission(request: Request) -> Admission:
    return request.app.state.admission


def get_speaker_store(request: Request) -> SpeakerStore | None:
    # None when the model has no speaker-adapted head: then no profile file is opened.
    return request.app.state.speakers


def get_domain_store(request: Request) -> SpeakerStore | None:
    # None when the model's adapted head was not trained for domain profiles.
    return request.app.state.domains


SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
ClassifierDep = Annotated[EmotionClassifier, Depends(get_classifier)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
StoreDep = Annotated[SpeakerStore | None, Depends(get_speaker_store)]
DomainStoreDep = Annotated[SpeakerStore | None, Depends(get_domain_store)]
OwnerDep = Annotated[str, Depends(request_owner)]  # sha256 hex of the caller's key, or ""
