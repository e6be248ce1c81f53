"""Typed dependencies: what a route needs, taken from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ser_api.admission import Admission
from ser_api.config import Settings
from ser_api.metrics import Metrics
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


SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
ClassifierDep = Annotated[EmotionClassifier, Depends(get_classifier)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
