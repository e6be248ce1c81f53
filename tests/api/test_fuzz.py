"""Property-based fuzzing of every endpoint from the app's own OpenAPI schema (schemathesis).

Each generated request must get an answer that is no server error and that conforms to the
schema the app publishes (status code, content type, body, headers). The app runs with API
keys, so the auth checks (a missing or wrong key must be refused) are exercised too. The
number of examples is bounded here; ``make fuzz`` runs many more against a live server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ser_api.main import create_app
from tests.api.conftest import make_settings
from tests.support.fuzzing import FUZZ_KEY, fuzz_operation

# Bounded for `make test`; FUZZ_EXAMPLES raises it (make fuzz uses the live-server CLI).
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def fuzzed_app(tiny_model_path: Path) -> Iterator[FastAPI]:
    app = create_app(
        make_settings(tiny_model_path, api_keys=FUZZ_KEY, max_duration_s=30.0, log_level="ERROR")
    )
    # The lifespan loads the model into app.state; schemathesis's own ASGI client then
    # calls the same app object.
    with TestClient(app):
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


# Every operation the app publishes; the first test fails when one is added and not listed.
OPERATIONS = [
    ("GET", "/health"), ("GET", "/model"), ("GET", "/metrics"),
    ("POST", "/predict"), ("POST", "/predict/batch"),
    ("POST", "/speakers"), ("GET", "/speakers"), ("GET", "/speakers/{profile_id}"),
    ("POST", "/speakers/{profile_id}/clips"), ("DELETE", "/speakers/{profile_id}"),
    ("POST", "/domains"), ("GET", "/domains"), ("GET", "/domains/{profile_id}"),
    ("POST", "/domains/{profile_id}/clips"), ("DELETE", "/domains/{profile_id}"),
]  # fmt: skip


def test_every_published_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    published = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert published == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_endpoint_answers_within_its_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    fuzz_operation(api_schema, method, path, MAX_EXAMPLES)
