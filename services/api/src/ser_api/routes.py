"""HTTP endpoints. Thin: validate the upload, hand the bytes to the classifier off the
event loop, shape the answer."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile, status
from fastapi.responses import Response

from ser_api.admission import Admission, ServiceBusyError
from ser_api.auth import KEY_RESPONSES, require_api_key
from ser_api.deps import (
    AdmissionDep,
    ClassifierDep,
    DomainStoreDep,
    MetricsDep,
    OwnerDep,
    SettingsDep,
    StoreDep,
)
from ser_api.errors import (
    AUDIO_ERROR_STATUS,
    FILE_FIELD,
    FILES_FIELD,
    ApiError,
    status_reason,
)
from ser_api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ser_api.metrics import Metrics
from ser_api.speaker_profiles import PLAIN, Adaptation, adaptation_asked
from ser_api.uploads import ERROR_RESPONSES, audio_limits, check_media_type
from ser_contract import (
    BatchItem,
    BatchResponse,
    CalibrationInfo,
    ErrorResponse,
    HealthResponse,
    ModelResponse,
    PlainAnswer,
    PredictionResponse,
    Segment,
    ServiceLimits,
    Timing,
)
from ser_features import AudioError, max_windows
from ser_inference import AudioLimits, EmotionClassifier, Prediction, answer_fields

# /health answers without a key (probes and load balancers); everything else may need one.
public_router = APIRouter()
router = APIRouter(dependencies=[Depends(require_api_key)], responses=KEY_RESPONSES)

_PREDICT_ERRORS = {
    **ERROR_RESPONSES,
    400: {
        "model": ErrorResponse,
        "description": "Missing form field, not exactly one file, ?speaker with ?adapt, or "
        "?adapt other than 'self'.",
    },
    404: {
        "model": ErrorResponse,
        "description": "?speaker or ?domain: no such profile for this API key.",
    },
    409: {
        "model": ErrorResponse,
        "description": "?speaker, ?adapt or ?domain: the model has no speaker-adapted head "
        "(for ?domain: none trained for domain profiles), or the profile was made by another "
        "model.",
    },
}


def _probabilities(labels: tuple[str, ...], values: Any) -> dict[str, float]:
    return {label: float(value) for label, value in zip(labels, values, strict=True)}


def _plain_answer(prediction: Prediction | None) -> PlainAnswer | None:
    if prediction is None:
        return None
    return PlainAnswer(
        **answer_fields(prediction.judgement),
        probabilities=_probabilities(prediction.labels, prediction.probabilities),
    )


def to_response(
    prediction: Prediction, model_version: str, speaker: str | None = None,
    domain: str | None = None,
) -> PredictionResponse:  # fmt: skip
    """Shape the classifier's answer; every value in it was decided by the classifier.

    ``speaker``: the speaker profile asked for (its id, or ``self``), ``domain`` the domain
    profile's id; None when not asked for.
    """
    labels = prediction.labels
    segments = []
    for window in prediction.windows:
        probs = window.probabilities
        segments.append(
            Segment(
                start_s=round(window.start_s, 4),
                end_s=round(window.end_s, 4),
                silent=window.silent,
                probabilities=None if probs is None else _probabilities(labels, probs),
                **answer_fields(window.judgement),
            )
        )
    return PredictionResponse(
        **answer_fields(prediction.judgement),
        probabilities=_probabilities(labels, prediction.probabilities),
        duration_s=round(prediction.duration_s, 4),
        sample_rate=prediction.source_sample_rate,
        channels=prediction.source_channels,
        format=prediction.source_format,
        model_version=model_version,
        segments=segments,
        timing=Timing(
            features_ms=round(prediction.features_ms, 3),
            inference_ms=round(prediction.inference_ms, 3),
        ),
        speaker=speaker,
        adapted=prediction.adapted,
        adaptation_reason=prediction.adaptation_reason,
        domain=domain,
        adaptation=prediction.adaptation if prediction.adapted else None,
        plain=_plain_answer(prediction.plain),
    )


async def _read(
    upload: UploadFile, classifier: EmotionClassifier, limits: AudioLimits
) -> tuple[bytes, int]:
    """One upload's bytes and its encoder work in windows, from its header; raises ApiError
    or AudioError for what cannot be classified (before it weighs on admission)."""
    check_media_type(upload)
    data = await upload.read()
    # A header probe is quick, but a container without a duration is decoded to count it.
    info = await to_thread.run_sync(classifier.check_header, data, limits)
    return data, max_windows(info.duration_s, classifier.config)


async def _classify(
    data: bytes,
    classifier: EmotionClassifier,
    limits: AudioLimits,
    admission: Admission,
    deadline: float,
    metrics: Metrics,
    adaptation: Adaptation = PLAIN,
) -> PredictionResponse:
    """Classify one read upload; raises AudioError or ServiceBusyError."""
    # Decoding, features and inference hold the GIL only in short stretches, but they are
    # CPU-bound for milliseconds: off the event loop, a few at a time, and not at all once
    # the request waited too long for its turn.
    prediction = await admission.run(deadline, adaptation.predict, classifier, data, limits)
    metrics.stage_seconds.labels("features").observe(prediction.features_ms / 1e3)
    metrics.stage_seconds.labels("inference").observe(prediction.inference_ms / 1e3)
    metrics.audio_seconds.observe(prediction.duration_s)
    metrics.predictions.labels(prediction.emotion).inc()
    head = "adapted" if prediction.adapted else "plain"
    metrics.answer_heads.labels(head, adaptation.asked).inc()
    return to_response(prediction, classifier.model_version, adaptation.speaker, adaptation.domain)


@router.post(
    "/predict",
    response_model=PredictionResponse,
    responses=_PREDICT_ERRORS,
    summary="Emotion of one recording, with its timeline",
)
async def predict(
    request: Request,
    file: Annotated[
        UploadFile,
        File(
            description="WAV, FLAC, OGG, AIFF, MP3, M4A/AAC, WebM/Opus or a video with an audio track; any rate/channels."
        ),
    ],
    classifier: ClassifierDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    admission: AdmissionDep,
    store: StoreDep,
    domains: DomainStoreDep,
    owner: OwnerDep,
    speaker: Annotated[
        str | None,
        Query(
            description="Adapt the answer to this speaker profile (POST /speakers); the "
            "plain answer comes beside it in `plain`."
        ),
    ] = None,
    adapt: Annotated[
        str | None,
        Query(description="'self': adapt the answer to the recording's own voice."),
    ] = None,
    domain: Annotated[
        str | None,
        Query(
            description="Adapt the answer to this domain profile (POST /domains: recordings "
            "of the same place), alone or with ?speaker / ?adapt=self; `adaptation` says which "
            "statistics were used."
        ),
    ] = None,
) -> PredictionResponse:
    # FastAPI keeps the last of repeated fields; silently ignoring the others would be wrong.
    if len((await request.form()).getlist(FILE_FIELD)) != 1:
        raise ApiError(
            status.HTTP_400_BAD_REQUEST,
            f"send exactly one file in form field '{FILE_FIELD}'; "
            f"use /predict/batch with field '{FILES_FIELD}' for several",
            reason="several_files",
        )
    adaptation = await adaptation_asked(speaker, adapt, classifier, store, owner, domain, domains)
    # One queue place per request (a batch too), taken once the body is in: a slow upload
    # holds no place, and a full queue refuses at once with 503 + Retry-After. Then its work
    # (encoder windows, from the header) is weighed: a busy worker refuses what it cannot
    # answer within the latency target, at once too.
    limits = audio_limits(settings)
    async with admission.slot() as deadline:
        data, windows = await _read(file, classifier, limits)
        async with admission.work_for(windows):
            return await _classify(
                data, classifier, limits, admission, deadline, metrics, adaptation
            )


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=ERROR_RESPONSES,
    summary="Several recordings in one request: one result or error per file, in order",
)
async def predict_batch(
    files: Annotated[list[UploadFile], File(description="Repeat the field once per file.")],
    classifier: ClassifierDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    admission: AdmissionDep,
) -> BatchResponse:
    if len(files) > settings.max_batch_files:
        raise ApiError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(files)} files in one batch; the limit is {settings.max_batch_files}",
            reason="too_many_files",
        )
    limits = audio_limits(settings)

    def failed(upload: UploadFile, error: ApiError | AudioError | ServiceBusyError) -> BatchItem:
        """The file's error as a batch item (the batch itself goes on)."""
        if isinstance(error, AudioError):
            code, reason, detail = AUDIO_ERROR_STATUS, error.reason, str(error)
        elif isinstance(error, ApiError):
            code, reason, detail = error.status_code, error.reason, error.detail
        else:
            code, reason, detail = error.status_code, status_reason(error.status_code), error.detail
        metrics.errors.labels(reason).inc()
        return BatchItem(filename=upload.filename, status_code=code, detail=detail)

    async def one(upload: UploadFile, data: bytes, deadline: float) -> BatchItem:
        try:
            result = await _classify(data, classifier, limits, admission, deadline, metrics)
        except (ServiceBusyError, AudioError) as error:
            return failed(upload, error)
        return BatchItem(filename=upload.filename, status_code=status.HTTP_200_OK, result=result)

    # The limiter, not the batch size, decides how many files are processed at once; the
    # batch is admitted as the work of all its readable files together.
    async with admission.slot() as deadline:
        read: dict[int, tuple[bytes, int]] = {}
        answers: dict[int, BatchItem] = {}
        for i, upload in enumerate(files):
            try:
                read[i] = await _read(upload, classifier, limits)
            except (ApiError, AudioError) as error:
                answers[i] = failed(upload, error)
        async with admission.work_for(sum(windows for _, windows in read.values())):
            done = await asyncio.gather(
                *(one(files[i], data, deadline) for i, (data, _) in read.items())
            )
        answers |= dict(zip(read, done, strict=True))
    return BatchResponse(results=[answers[i] for i in range(len(files))])


@public_router.get("/health", response_model=HealthResponse, summary="Liveness and model readiness")
async def health(request: Request, classifier: ClassifierDep) -> HealthResponse:
    return HealthResponse(
        status="ok",
        model_loaded=True,
        model_version=classifier.model_version,
        uptime_s=round(time.monotonic() - request.app.state.started_at, 3),
    )


@router.get("/model", response_model=ModelResponse, summary="The loaded model's metadata")
async def model_info(classifier: ClassifierDep, settings: SettingsDep) -> ModelResponse:
    metadata = classifier.metadata
    return ModelResponse(
        model_version=metadata.model_version,
        labels=list(metadata.labels),
        feature_config=metadata.feature_config.to_dict(),
        input_shape=[None, *metadata.feature_config.input_shape],
        metrics=metadata.metrics,
        training_data=metadata.training_data,
        license=metadata.license,
        calibration=CalibrationInfo(
            calibrated=classifier.calibrated, **classifier.calibration.to_dict()
        ),
        runtime={**classifier.describe(), "intra_op_threads": settings.ort_threads},
        limits=ServiceLimits(
            max_upload_bytes=settings.max_upload_bytes,
            min_duration_s=settings.min_duration_s,
            max_duration_s=settings.max_duration_s,
            max_batch_files=settings.max_batch_files,
            max_enrol_files=settings.max_enrol_files,
        ),
        adaptation=None if classifier.adaptation is None else classifier.adaptation.to_dict(),
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics(metrics: MetricsDep) -> Response:
    return Response(content=metrics.render(), media_type=METRICS_CONTENT_TYPE)
