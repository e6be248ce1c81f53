"""Response bodies of the public API (the UI and outside clients rely on these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Segment(BaseModel):
    """One window of the emotion timeline."""

    start_s: float = Field(description="Window start in the uploaded recording, seconds.")
    end_s: float = Field(description="End of the real audio in the window, seconds.")
    silent: bool = Field(description="Below the model's silence level: not classified.")
    emotion: str | None = Field(description="Most probable label; null for silent windows.")
    confidence: float | None = Field(description="Probability of `emotion`; null if silent.")
    probabilities: dict[str, float] | None = Field(
        description="Every label's probability (sums to 1); null for silent windows."
    )


class Timing(BaseModel):
    features_ms: float = Field(description="Decode, resample, windowing and features.")
    inference_ms: float = Field(description="ONNX Runtime, all windows in one batch.")


class PredictionResponse(BaseModel):
    """The emotion of one recording and its timeline."""

    emotion: str = Field(description="Most probable label over the non-silent windows.")
    confidence: float = Field(description="Probability of `emotion`.")
    probabilities: dict[str, float] = Field(
        description="Every label's probability, summing to 1: the mean of the non-silent "
        "windows' probabilities weighted by their seconds of real audio."
    )
    duration_s: float = Field(description="Length of the decoded recording, seconds.")
    sample_rate: int = Field(description="Sample rate stored in the file, Hz.")
    channels: int = Field(description="Channels stored in the file (mixed to mono).")
    format: str = Field(description="Container detected from the bytes: WAV, FLAC, OGG, …")
    model_version: str
    segments: list[Segment] = Field(
        description="Model windows in time order; leading/trailing silence is trimmed "
        "before windowing, silent windows inside are listed with `silent: true`."
    )
    timing: Timing


class BatchItem(BaseModel):
    """The outcome for one file of a batch: a result or an error, never both."""

    filename: str | None
    status_code: int = Field(description="What /predict would have answered for this file.")
    result: PredictionResponse | None = None
    detail: str | None = Field(None, description="Why the file was refused.")


class BatchResponse(BaseModel):
    results: list[BatchItem] = Field(description="One entry per uploaded file, in order.")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model_loaded: bool
    model_version: str
    uptime_s: float


class ModelResponse(BaseModel):
    """What the loaded model says about itself, plus the limits this service applies."""

    model_version: str
    labels: list[str]
    feature_config: dict[str, Any]
    input_shape: list[int | None] = Field(description="(batch, n_frames, n_features)")
    metrics: dict[str, Any] = Field(description="Evaluation results and their protocol.")
    training_data: dict[str, Any]
    license: str
    runtime: dict[str, Any]
    limits: dict[str, float | int]


class ErrorResponse(BaseModel):
    detail: str
