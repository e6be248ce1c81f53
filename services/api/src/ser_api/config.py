"""Service configuration from ``SER_*`` environment variables (or a ``.env`` file).

Bad values are refused when the settings are built, i.e. at startup, with pydantic's
message naming the variable, instead of surfacing later as a confusing request failure.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ser_inference import DEFAULT_MAX_DURATION_S, DEFAULT_MIN_DURATION_S, DEFAULT_MODEL_PATH

ENV_PREFIX = "SER_"
MIB = 1024 * 1024  # bytes
# 128 MiB: a 10-minute 44.1 kHz stereo 16-bit WAV (106 MB) still fits.
DEFAULT_MAX_UPLOAD_BYTES = 128 * MIB
DEFAULT_MAX_BATCH_FILES = 16

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
    max_concurrent_inferences: int = Field(
        2,
        ge=1,
        le=256,
        description="Recordings processed at once; more wait. Bounds CPU and memory.",
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


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
