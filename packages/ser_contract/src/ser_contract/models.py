"""Response bodies of the public API (the web app and outside clients rely on these).

Additive changes only: a field, once published, keeps its name and meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]

_UNCERTAIN = (
    'True when `confidence` is below the model\'s "not sure" threshold (GET /model '
    "`calibration.uncertain_below`): the emotion is a best guess, not an answer to act on."
)
_AROUSAL = (
    "Probability that the speech is high-arousal (angry, fearful, happy, surprised), in "
    "[0, 1]: from the learned head of GET /model `calibration.arousal_weights` when the model "
    "has one, else the calibrated probabilities weighted by `calibration.arousal`."
)
_VALENCE = (
    "Expected valence, in [-1, 1] (negative … positive): the calibrated probabilities "
    "weighted by GET /model `calibration.valence`."
)


class Segment(BaseModel):
    """One window of the emotion timeline; the answer fields are null for silent windows."""

    start_s: float = Field(description="Window start in the uploaded recording, seconds.")
    end_s: float = Field(description="End of the real audio in the window, seconds.")
    silent: bool = Field(description="Below the model's silence level: not classified.")
    emotion: str | None = Field(description="Most probable label; null for silent windows.")
    confidence: Probability | None = Field(
        description="Calibrated probability of `emotion`; null if silent."
    )
    probabilities: dict[str, float] | None = Field(
        description="Every label's calibrated probability (sums to 1); null for silent windows."
    )
    uncertain: bool | None = Field(None, description=_UNCERTAIN + " Null if silent.")
    arousal: Probability | None = Field(None, description=_AROUSAL + " Null if silent.")
    valence: Annotated[float, Field(ge=-1.0, le=1.0)] | None = Field(
        None, description=_VALENCE + " Null if silent."
    )


class Timing(BaseModel):
    features_ms: float = Field(description="Decode, resample, windowing and features.")
    inference_ms: float = Field(description="ONNX Runtime, all windows in one batch.")


class PlainAnswer(BaseModel):
    """The plain (single-clip) head's answer, given beside an adapted one for comparison."""

    emotion: str
    confidence: Probability
    uncertain: bool
    arousal: Probability
    valence: float = Field(ge=-1.0, le=1.0)
    probabilities: dict[str, float]


class PredictionResponse(BaseModel):
    """The emotion of one recording and its timeline."""

    emotion: str = Field(description="Most probable label over the non-silent windows.")
    confidence: Probability = Field(
        description="Calibrated probability of `emotion` (temperature scaling fitted on the "
        "validation speakers; GET /model `metrics.calibration` gives the measured calibration "
        "error)."
    )
    uncertain: bool = Field(description=_UNCERTAIN)
    arousal: Probability = Field(description=_AROUSAL)
    valence: float = Field(ge=-1.0, le=1.0, description=_VALENCE)
    probabilities: dict[str, float] = Field(
        description="Every label's calibrated probability, summing to 1: the mean of the "
        "non-silent windows' probabilities weighted by their seconds of real audio."
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
    speaker: str | None = Field(
        None,
        description="The speaker profile asked for (`?speaker=ID`), `self` for `?adapt=self`; "
        "null for a plain request.",
    )
    adapted: bool = Field(
        False,
        description="True when the answer above comes from the speaker-adapted head (the "
        "profile was usable); false for plain requests and for unusable profiles.",
    )
    adaptation_reason: str | None = Field(
        None, description="Why a profile that was asked for was not used; null otherwise."
    )
    domain: str | None = Field(
        None, description="The domain profile asked for (`?domain=ID`); null otherwise."
    )
    adaptation: Literal["speaker", "domain", "speaker+domain"] | None = Field(
        None,
        description="With `adapted: true`, which statistics standardised the adapted head's "
        "input: the speaker's, the domain's (recordings of the same place), or the speaker's "
        "with the domain's as a prior; null otherwise.",
    )
    plain: PlainAnswer | None = Field(
        None,
        description="With `adapted: true`, the plain head's answer for the same recording, "
        "for comparison; null otherwise.",
    )


class ProfileSummary(BaseModel):
    """What a profile (speaker or domain) holds: statistics of the enrolled clips' voiced
    windows, never audio."""

    clips: int = Field(description="Clips enrolled so far.")
    seconds: float = Field(description="Seconds of audio enrolled (decoded length).")
    windows: int = Field(description="Voiced 3-s model windows the statistics summarise.")
    usable: bool = Field(
        description="Whether answers will be adapted to this profile (GET /model "
        "`adaptation` gives the rule)."
    )
    reason: str | None = Field(description="Why the profile is not usable yet; null if it is.")
    created_at: str = Field(description="ISO 8601, UTC.")
    updated_at: str = Field(description="ISO 8601, UTC: the last enrolment.")


class SpeakerResponse(ProfileSummary):
    """A speaker profile: one voice."""

    speaker: str = Field(description="The profile's id: use it as `/predict?speaker=ID`.")


class DomainResponse(ProfileSummary):
    """A domain profile: a sample of one place's recordings (microphone, room, language)."""

    domain: str = Field(description="The profile's id: use it as `/predict?domain=ID`.")


class SpeakerList(BaseModel):
    """The caller's speaker profiles, oldest first."""

    speakers: list[SpeakerResponse]


class DomainList(BaseModel):
    """The caller's domain profiles, oldest first."""

    domains: list[DomainResponse]


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


class CalibrationInfo(BaseModel):
    """How the model's probabilities become confidence, "not sure", arousal and valence."""

    calibrated: bool = Field(
        description="Whether the model carries a fitted calibration; if false, the "
        "probabilities are the raw softmax, `uncertain` is never true and the mapping below "
        "is the product's default."
    )
    temperature: float = Field(
        gt=0,
        description="Softmax temperature fitted on the validation speakers (inside the model).",
    )
    uncertain_below: Probability = Field(
        description="A confidence below this is answered with `uncertain: true`."
    )
    arousal: dict[str, Probability] = Field(
        description="Label → probability of high arousal; `arousal` = Σ p(label) × this when "
        "`arousal_weights` is empty."
    )
    arousal_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Learned arousal head: label → weight; `arousal` = sigmoid(Σ weight × "
        "ln p(label) + `arousal_bias`). Empty: the mapping `arousal` is used instead.",
    )
    arousal_bias: float = Field(0.0, description="Bias of the learned arousal head.")
    valence: dict[str, Annotated[float, Field(ge=-1.0, le=1.0)]] = Field(
        description="Label → valence in [-1, 1]; `valence` = Σ p(label) × this."
    )
    fitted_on: str = Field(description="Protocol: which speakers chose temperature and threshold.")


class ServiceLimits(BaseModel):
    """What this service accepts (its settings, not the model's)."""

    max_upload_bytes: int = Field(description="Largest request body, bytes.")
    min_duration_s: float = Field(description="Shortest recording, seconds.")
    max_duration_s: float = Field(description="Longest recording, seconds.")
    max_batch_files: int = Field(description="Most files in one /predict/batch request.")
    max_enrol_files: int | None = Field(
        None, description="Most files in one /speakers or /domains enrolment request."
    )


class ModelResponse(BaseModel):
    """What the loaded model says about itself, plus the limits this service applies."""

    model_version: str
    labels: list[str]
    feature_config: dict[str, Any]
    input_shape: list[int | None] = Field(description="(batch, n_frames, n_features)")
    metrics: dict[str, Any] = Field(
        description="Evaluation results and their protocol; `calibration` holds the measured "
        "ECE before/after, accuracy above the threshold and arousal/valence accuracies."
    )
    training_data: dict[str, Any]
    license: str
    calibration: CalibrationInfo
    runtime: dict[str, Any]
    limits: ServiceLimits
    adaptation: dict[str, Any] | None = Field(
        None,
        description="The speaker-adapted head, when the model has one: what a profile holds "
        "(`layers`, `statistics`), when it is usable (`min_windows` voiced windows, at most "
        "`max_dominant_share` of them given one plain answer), its `temperature` and "
        "`uncertain_below`, and `metrics`, the adaptation protocol's results; null otherwise.",
    )


class ErrorResponse(BaseModel):
    detail: str
