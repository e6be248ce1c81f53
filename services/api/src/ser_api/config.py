"""Service configuration from ``SER_*`` environment variables (or a ``.env`` file).

Bad values are refused when the settings are built, i.e. at startup, with pydantic's
message naming the variable, instead of surfacing later as a confusing request failure.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ser_inference import DEFAULT_MAX_DURATION_S, DEFAULT_MIN_DURATION_S, DEFAULT_MODEL_PATH

ENV_PREFIX = "SER_"
MIB = 1024 * 1024  # bytes
# 128 MiB: a 10-minute 44.1 kHz stereo 16-bit WAV (106 MB) still fits.
DEFAULT_MAX_UPLOAD_BYTES = 128 * MIB
DEFAULT_MAX_BATCH_FILES = 16
# Per worker: with 2 running, 8 waiting recordings of 30 s each are about 0.5 s of work on
# one core, so an admitted request is answered well within 2 s (docs/reliability.md).
DEFAULT_MAX_QUEUED_REQUESTS = 8
# s: with the host's own computing time, an admitted request is answered within ~2 s even
# when the cores are shared (docs/reliability.md).
DEFAULT_MAX_QUEUE_WAIT_S = 1.0
DEFAULT_RETRY_AFTER_S = 1  # s: the least Retry-After; a busy worker names the time its work needs
# s: a recording is admitted only while its answer is expected within this, its own encoder
# windows behind the work already admitted. The expectation is a mean: under 64 clients
# posting 30-s clips (bench.reliability overload-targets) 2.0 gave p99 2.20 and 1.90 s, 1.5
# gave 1.64, 1.87 and 1.95 s at nearly the same throughput: 1.5 keeps issue 31's 2-s p99.
DEFAULT_TARGET_LATENCY_S = 1.5
DEFAULT_BODY_TIMEOUT_S = 30.0  # s: 128 MiB at 40 Mbit/s; a slower upload is cut off
# Live streams (WS /stream), per worker: a cap on sockets and memory, not on compute (streams
# share the upload compute slots). 64 streams are ~43 windows/s: within the CNN's reach, beyond
# Model v3's on 2 cores, which sustains 25 streams in all (docs/benchmarks.md, Live streams).
DEFAULT_MAX_STREAMS = 64
DEFAULT_STREAM_MAX_DURATION_S = 3600.0  # s: an hour-long call; a longer one reconnects
DEFAULT_STREAM_IDLE_TIMEOUT_S = 10.0  # s: a live microphone sends every few tens of ms
# × real time: a file sent with ser-stream --fast; a client catching up after a network stall
DEFAULT_STREAM_MAX_SPEED = 4.0
DEFAULT_STREAM_BURST_S = 5.0  # s of audio a client may send ahead of that pace (its buffer)
# Speaker profiles (issue 24): statistics only, never audio (ser_api.speakers_store).
DEFAULT_SPEAKER_DB = Path("data/speakers.sqlite3")  # relative to the working directory
DEFAULT_MAX_SPEAKERS_PER_KEY = 100
# The adaptation protocol enrols up to 60 clips at once (ser_training.adaptation.protocol);
# 200 leave room for a profile grown over several sessions.
DEFAULT_MAX_CLIPS_PER_SPEAKER = 200
# A domain profile is a sample of a deployment's recordings (issue 30 measured 30–300 clips);
# more clips than that change its statistics little, so the cap is about storage and abuse.
DEFAULT_MAX_DOMAINS_PER_KEY = 20
DEFAULT_MAX_CLIPS_PER_DOMAIN = 5000
DEFAULT_MAX_ENROL_FILES = 64  # clips per POST /speakers or /speakers/{id}/clips request
MIN_API_KEY_CHARS = 16  # shorter keys are guessable; refused at startup
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything an operator may tune; each field is ``SER_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # "model_path" would otherwise clash with pydantic's protected "model_" namespace.
        protected_namespaces=("settings_",),
    )

    model_path: Path = Field(
        DEFAULT_MODEL_PATH, description="ONNX model exported by ser-train (metadata inside)."
    )
    max_upload_bytes: int = Field(
        DEFAULT_MAX_UPLOAD_BYTES,
        gt=0,
        description="Largest request body accepted, in bytes; larger bodies get 413.",
    )
    max_duration_s: float = Field(
        DEFAULT_MAX_DURATION_S, gt=0, description="Longest recording accepted, in seconds."
    )
    min_duration_s: float = Field(
        DEFAULT_MIN_DURATION_S, ge=0, description="Shortest recording accepted, in seconds."
    )
    max_batch_files: int = Field(
        DEFAULT_MAX_BATCH_FILES, ge=1, le=1000, description="Most files per /predict/batch."
    )
    ort_threads: int = Field(
        1, ge=1, le=64, description="ONNX Runtime intra-op threads per inference."
    )
    long_recording_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads sharing the features and model batch of one long recording "
        "(≥ 30 s); shorter clips use one.",
    )
    max_concurrent_inferences: int = Field(
        2,
        ge=1,
        le=256,
        description="Recordings processed at once; more wait. Bounds CPU and memory.",
    )
    max_queued_requests: int = Field(
        DEFAULT_MAX_QUEUED_REQUESTS,
        ge=0,
        le=10_000,
        description="Recordings per worker that may wait for a compute slot; beyond that the "
        "service answers 503 with Retry-After instead of queueing without bound.",
    )
    max_queue_wait_s: float = Field(
        DEFAULT_MAX_QUEUE_WAIT_S,
        gt=0,
        description="Seconds a queued recording may wait for a compute slot; one that waited "
        "longer gets 503 with Retry-After when its turn comes.",
    )
    retry_after_s: int = Field(
        DEFAULT_RETRY_AFTER_S,
        ge=1,
        le=3600,
        description="Least Retry-After of a 503, in seconds (a worker refusing for its work "
        "advertises the time that work needs, if longer).",
    )
    target_latency_s: float = Field(
        DEFAULT_TARGET_LATENCY_S,
        gt=0,
        description="Seconds within which an admitted recording should be answered: a busy "
        "worker refuses (503 + Retry-After, at once) a recording whose encoder windows, behind "
        "the work it already holds, would take longer at its measured compute per window. An "
        "idle worker takes any recording within the limits.",
    )
    body_timeout_s: float = Field(
        DEFAULT_BODY_TIMEOUT_S,
        gt=0,
        description="Seconds a client may take to send its request body; slower uploads get "
        "408 and the connection is closed, so a trickling client holds nothing for long.",
    )
    max_streams: int = Field(
        DEFAULT_MAX_STREAMS,
        ge=0,
        le=10_000,
        description="Live streams (WS /stream) per worker; one more is closed with 1013 "
        "(busy), as is any new stream while the worker's upload queue is full.",
    )
    stream_max_duration_s: float = Field(
        DEFAULT_STREAM_MAX_DURATION_S,
        gt=0,
        description="Longest live stream, in seconds of audio or of wall clock; then it is "
        "closed with 4413 (too_long).",
    )
    stream_idle_timeout_s: float = Field(
        DEFAULT_STREAM_IDLE_TIMEOUT_S,
        gt=0,
        description="Seconds a live stream may send nothing before it is closed with 4408.",
    )
    stream_max_speed: float = Field(
        DEFAULT_STREAM_MAX_SPEED,
        ge=1,
        le=1000,
        description="Live audio may arrive at most this many times faster than real time "
        "(plus SER_STREAM_BURST_S ahead); faster is closed with 4429 (too_fast).",
    )
    stream_burst_s: float = Field(
        DEFAULT_STREAM_BURST_S,
        ge=0,
        description="Seconds of audio a live stream may send ahead of SER_STREAM_MAX_SPEED.",
    )
    speaker_db: Path = Field(
        DEFAULT_SPEAKER_DB,
        description="SQLite file of the speaker profiles (statistics of enrolled clips, never "
        "audio), shared by the workers; created with its folder at start-up when the model "
        "has a speaker-adapted head, which refuses to start if it cannot be written.",
    )
    max_speakers_per_key: int = Field(
        DEFAULT_MAX_SPEAKERS_PER_KEY,
        ge=1,
        le=1_000_000,
        description="Speaker profiles per API key (per service without keys); one more is "
        "refused with 409.",
    )
    max_clips_per_speaker: int = Field(
        DEFAULT_MAX_CLIPS_PER_SPEAKER,
        ge=1,
        le=100_000,
        description="Clips one speaker profile may hold; an enrolment beyond is refused with 409.",
    )
    max_domains_per_key: int = Field(
        DEFAULT_MAX_DOMAINS_PER_KEY,
        ge=1,
        le=1_000_000,
        description="Domain profiles (POST /domains) per API key (per service without keys); "
        "one more is refused with 409.",
    )
    max_clips_per_domain: int = Field(
        DEFAULT_MAX_CLIPS_PER_DOMAIN,
        ge=1,
        le=1_000_000,
        description="Clips one domain profile may hold; an enrolment beyond is refused with 409.",
    )
    max_enrol_files: int = Field(
        DEFAULT_MAX_ENROL_FILES,
        ge=1,
        le=1000,
        description="Clips per POST /speakers, /domains or their /{id}/clips request.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Bearer keys, comma-separated; when set, every endpoint but /health "
        "needs 'Authorization: Bearer <key>' (WS /stream: that header or ?api_key=). Empty: "
        "no authentication.",
    )
    host: str = Field(
        "127.0.0.1",
        description="Interface ser-api listens on. Under a bare uvicorn set it to uvicorn's "
        "--host: uvicorn does not tell the app, and the no-key warning needs it.",
    )
    bind_address: str | None = Field(
        None,
        description="Where clients reach the API when that differs from SER_HOST (a container "
        "listens on 0.0.0.0 but compose publishes the port on this host address). Beyond "
        "loopback without SER_API_KEYS, start-up logs a warning.",
    )
    port: int = Field(8000, ge=1, le=65_535, description="TCP port ser-api listens on.")
    workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Worker processes of ser-api, each with its own socket (SO_REUSEPORT); "
        "one per core measured fastest.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated; empty disables CORS.",
    )
    log_level: LogLevel = Field("INFO", description="Python logging level.")
    log_json: bool = Field(True, description="One JSON object per log line (else plain text).")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # A comma-separated list is what people type in a shell or compose file.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        short = sum(len(key.get_secret_value()) < MIN_API_KEY_CHARS for key in keys)
        if short:
            # The keys themselves are never echoed: this message ends up in logs.
            raise ValueError(
                f"{short} key(s) shorter than {MIN_API_KEY_CHARS} characters; "
                "use e.g. 'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'"
            )
        return keys

    @field_validator("speaker_db")
    @classmethod
    def _check_speaker_db(cls, path: Path) -> Path:
        # Only what is wrong wherever the service runs; whether the file can be written is
        # checked when the store opens (a model without an adapted head never opens it).
        if (
            str(path) in ("", ".")
            or str(path).startswith(":memory:")
            or str(path).startswith("file:")
        ):
            raise ValueError(
                f"'{path}' is not a file path; the profiles must outlive the process and be "
                "shared by the workers: name a file, e.g. data/speakers.sqlite3"
            )
        if path.is_dir():
            raise ValueError(
                f"'{path}' is a folder; name a file in it, e.g. {path}/speakers.sqlite3"
            )
        return path

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_durations(self) -> Settings:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError(
                f"SER_MIN_DURATION_S ({self.min_duration_s}) must be below "
                f"SER_MAX_DURATION_S ({self.max_duration_s})"
            )
        return self

    @property
    def exposed(self) -> bool:
        """True when clients beyond this host can reach the API (anything but loopback)."""
        host = (self.bind_address or self.host).strip("[]").lower()
        if host in LOOPBACK_NAMES:
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:  # a host name other than localhost: assume it is reachable
            return True


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
