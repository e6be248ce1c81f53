"""Configuration: SER_* variables, refused when bad, and startup failure as one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ser_api.config import Settings
from ser_api.main import create_app
from tests.api.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]


def test_environment_variables_configure_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SER_MODEL_PATH", "/srv/model.onnx")
    monkeypatch.setenv("SER_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("SER_ORT_THREADS", "2")
    monkeypatch.setenv("SER_CORS_ORIGINS", "http://localhost:8501, https://ser.example")
    monkeypatch.setenv("SER_LOG_LEVEL", "debug")
    settings = Settings(_env_file=None)
    assert settings.model_path == Path("/srv/model.onnx")
    assert settings.max_upload_bytes == 1000
    assert settings.ort_threads == 2
    assert settings.cors_origins == ["http://localhost:8501", "https://ser.example"]
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SER_MAX_UPLOAD_BYTES", "0"),
        ("SER_MAX_UPLOAD_BYTES", "lots"),
        ("SER_ORT_THREADS", "0"),
        ("SER_MAX_DURATION_S", "-1"),
        ("SER_MIN_DURATION_S", "900"),  # above the 600-s maximum
        ("SER_LOG_LEVEL", "chatty"),
    ],
)
def test_bad_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_cors_origins_are_honoured(tiny_model_path: Path) -> None:
    settings = make_settings(tiny_model_path, cors_origins=["http://localhost:8501"])
    with TestClient(create_app(settings)) as client:
        response = client.options(
            "/predict",
            headers={
                "Origin": "http://localhost:8501",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert response.headers["access-control-allow-origin"] == "http://localhost:8501"
        other = client.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SER_")} | env
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def uvicorn_refusal(model_path: Path, reason: str) -> str:
    """Start the API under uvicorn on ``model_path``; check that it exits, without a traceback,
    saying ``reason`` on exactly one line of stderr; return that line."""
    result = _run(
        ["-m", "uvicorn", "ser_api.main:app", "--port", "0", "--log-level", "warning"],
        SER_MODEL_PATH=str(model_path),
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if reason in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_uvicorn_exits_with_one_clear_line_when_the_model_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "absent.onnx"
    assert str(missing) in uvicorn_refusal(missing, "model file not found")


def test_bad_environment_exits_with_one_clear_line() -> None:
    result = _run(["-c", "import ser_api.main"], SER_ORT_THREADS="zero")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "SER_ORT_THREADS" in result.stderr
