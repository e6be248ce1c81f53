"""Optional API keys (SER_API_KEYS): who may call which endpoint, and what a refusal says."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ser_api.auth import key_matches
from ser_api.main import create_app
from tests.api.conftest import make_settings, upload

KEY_A = "alpha-key-0123456789abcdef"
KEY_B = "bravo-key-fedcba9876543210"
PROTECTED = [
    ("get", "/model"),
    ("get", "/metrics"),
    ("post", "/predict"),
    ("post", "/predict/batch"),
]


@pytest.fixture(scope="module")
def keyed_client(tiny_model_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tiny_model_path, api_keys=f"{KEY_A}, {KEY_B}")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_endpoint_but_health_needs_a_key(
    keyed_client: TestClient, method: str, path: str
) -> None:
    response = keyed_client.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {KEY_A}x",
        f"Bearer {KEY_A[:-1]}",
        "Bearer ",
        f"Basic {KEY_A}",
        KEY_A,
        "Bearer é".encode("latin-1"),
    ],
)
def test_wrong_or_malformed_keys_get_401_never_5xx(
    keyed_client: TestClient, header: str | bytes
) -> None:
    response = keyed_client.get("/model", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_each_configured_key_opens_every_endpoint(
    keyed_client: TestClient, speech_wav: bytes
) -> None:
    for key in (KEY_A, KEY_B):
        assert keyed_client.get("/model", headers=bearer(key)).status_code == 200
        assert keyed_client.get("/metrics", headers=bearer(key)).status_code == 200
        response = keyed_client.post("/predict", files=upload(speech_wav), headers=bearer(key))
        assert response.status_code == 200, response.text


def test_health_stays_open(keyed_client: TestClient) -> None:
    assert keyed_client.get("/health").status_code == 200


def test_refusals_are_counted(keyed_client: TestClient) -> None:
    keyed_client.get("/model")
    metrics = keyed_client.get("/metrics", headers=bearer(KEY_A)).text
    assert 'ser_errors_total{reason="unauthorized"}' in metrics


def test_docs_show_the_bearer_scheme(keyed_client: TestClient) -> None:
    schema = keyed_client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"].lower() == "bearer"
    assert schema["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_without_keys_nothing_is_asked(client: TestClient) -> None:
    assert client.get("/model").status_code == 200


def test_key_comparison() -> None:
    from ser_api.auth import _digest

    digests = (_digest(KEY_A), _digest(KEY_B))
    assert key_matches(KEY_B, digests)
    assert not key_matches(KEY_B.upper(), digests)
    assert not key_matches("", digests)


def test_short_keys_are_refused_at_startup_without_echoing_them(tiny_model_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        make_settings(tiny_model_path, api_keys=f"{KEY_A},tiny")
    message = caught.value.errors()[0]["msg"]
    assert "shorter than" in message and "tiny" not in message


@pytest.mark.parametrize(
    ("address", "keys", "warned"),
    [("0.0.0.0", "", True), ("192.168.1.5", "", True), ("::", "", True),
     ("0.0.0.0", KEY_A, False), ("127.0.0.1", "", False), ("localhost", "", False),
     ("::1", "", False)],
)  # fmt: skip
def test_startup_warns_when_exposed_without_keys(
    tiny_model_path: Path,
    caplog: pytest.LogCaptureFixture,
    address: str,
    keys: str,
    warned: bool,
) -> None:
    settings = make_settings(tiny_model_path, bind_address=address, api_keys=keys)
    with caplog.at_level(logging.WARNING, logger="ser_api"), TestClient(create_app(settings)):
        pass
    warnings = [r for r in caplog.records if "without API keys" in r.getMessage()]
    assert bool(warnings) == warned
