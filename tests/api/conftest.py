"""Fixtures for the API tests: a real (tiny) ONNX model and clients with the lifespan run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ser_api.config import Settings
from ser_api.main import create_app
from ser_encoders import EncoderSpec
from ser_inference import EmotionClassifier
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import build_tiny_model

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "ser_model.onnx"
SMALL_UPLOAD_LIMIT = 1024 * 1024  # bytes: lets a test exceed the limit without 200 MB
SMALL_MAX_DURATION_S = 30.0


@pytest.fixture(scope="session", autouse=True)
def speaker_profiles_in_a_temporary_file(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """SER_SPEAKER_DB for every app these tests build without naming one: a model with an
    adapted head (the shipped one) opens its profile file at start-up, and the default
    (data/speakers.sqlite3 in the working directory) would land in the repository."""
    path = tmp_path_factory.mktemp("speaker-profiles") / "speakers.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SER_SPEAKER_DB", str(path))
        yield path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


def make_settings(model_path: Path, **overrides: object) -> Settings:
    # _env_file=None: a developer's .env must not change what the tests check.
    return Settings(_env_file=None, model_path=model_path, log_json=True, **overrides)


@pytest.fixture(scope="session")
def client(tiny_model_path: Path) -> Iterator[TestClient]:
    """Default limits (128 MiB, 600 s), as deployed."""
    with TestClient(create_app(make_settings(tiny_model_path))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def strict_client(tiny_model_path: Path) -> Iterator[TestClient]:
    """Small limits, so that over-limit requests stay cheap to build."""
    settings = make_settings(
        tiny_model_path,
        max_upload_bytes=SMALL_UPLOAD_LIMIT,
        max_duration_s=SMALL_MAX_DURATION_S,
        max_batch_files=3,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def speech_wav() -> bytes:
    """3 s of a vowel-like tone at 16 kHz, 16-bit PCM."""
    return wav_bytes(harmonic_tone(3.0, seed=1))


def upload(data: bytes, name: str = "speech.wav", content_type: str = "audio/wav") -> dict:
    return {"file": (name, data, content_type)}


@pytest.fixture(scope="session")
def tiny_v3_adapted_lenient_model(
    tiny_v3_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny v3 graph with a random speaker-adapted head whose usable rule is 2 voiced
    windows and no limit on one plain answer's share, whatever the shared fixture's default:
    the random plain head tends to give every synthetic clip the same label, so only this
    rule makes a test profile usable for sure."""
    from tests.support.v3_model import export_adapted_v3_model

    target = tmp_path_factory.mktemp("v3-adapted-lenient") / "tiny_v3_adapted_lenient.onnx"
    return export_adapted_v3_model(tiny_v3_model, target, max_dominant_share=1.0)


@pytest.fixture
def adapted(tiny_v3_adapted_lenient_model: Path, known_tiny_encoder: EncoderSpec) -> Path:
    """The lenient adapted model (speaker profiles usable from 2 voiced windows, domain
    profiles from 3), its encoder pinned."""
    return tiny_v3_adapted_lenient_model


@pytest.fixture
def classifier(adapted: Path) -> EmotionClassifier:
    return EmotionClassifier.load(adapted)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "profiles" / "speakers.sqlite3"
