"""The SER API's response bodies, in one place: the API serves them, the web app parses them
(``Model.model_validate_json``). Pydantic only, so the UI image needs no API code."""

from ser_contract.models import (
    BatchItem,
    BatchResponse,
    CalibrationInfo,
    DomainList,
    DomainResponse,
    ErrorResponse,
    HealthResponse,
    ModelResponse,
    PlainAnswer,
    PredictionResponse,
    ProfileSummary,
    Segment,
    ServiceLimits,
    SpeakerList,
    SpeakerResponse,
    Timing,
)

__all__ = [
    "BatchItem",
    "BatchResponse",
    "CalibrationInfo",
    "DomainList",
    "DomainResponse",
    "ErrorResponse",
    "HealthResponse",
    "ModelResponse",
    "PlainAnswer",
    "PredictionResponse",
    "ProfileSummary",
    "Segment",
    "ServiceLimits",
    "SpeakerList",
    "SpeakerResponse",
    "Timing",
]
