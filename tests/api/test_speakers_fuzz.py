"""Property-based fuzzing (schemathesis, as tests/api/test_fuzz.py) of the speaker and domain
profile operations and /predict's adaptation queries, against a model WITH an adapted head
trained for both, so that the generated requests reach the profile store and not only the 409
of a plain model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ser_api.main import create_app
from ser_encoders import ENCODERS, EncoderSpec
from tests.api.conftest import make_settings
from tests.support.fuzzing import FUZZ_KEY, fuzz_operation

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
OPERATIONS = [
    ("POST", "/speakers"), ("GET", "/speakers"), ("GET", "/speakers/{profile_id}"),
    ("POST", "/speakers/{profile_id}/clips"), ("DELETE", "/speakers/{profile_id}"),
    ("POST", "/domains"), ("GET", "/domains"), ("GET", "/domains/{profile_id}"),
    ("POST", "/domains/{profile_id}/clips"), ("DELETE", "/domains/{profile_id}"),
    ("POST", "/predict"),
]  # fmt: skip


@pytest.fixture(scope="module")
def fuzzed_app(
    tiny_v3_adapted_lenient_model: Path,
    tiny_encoder: tuple[EncoderSpec, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FastAPI]:
    spec, _ = tiny_encoder
    db = tmp_path_factory.mktemp("fuzz-speakers") / "speakers.sqlite3"
    with pytest.MonkeyPatch.context() as patch:  # the tiny encoder pinned, as the product pins
        patch.setitem(ENCODERS, spec.name, spec)
        app = create_app(
            make_settings(
                tiny_v3_adapted_lenient_model, api_keys=FUZZ_KEY, speaker_db=db,
                max_duration_s=30.0, log_level="ERROR", max_enrol_files=4,
            )
        )  # fmt: skip
        with TestClient(app):
            yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


def test_the_speaker_operations_are_published(api_schema: schemathesis.BaseSchema) -> None:
    published = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert set(OPERATIONS) <= published


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_speaker_operation_answers_within_its_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    fuzz_operation(api_schema, method, path, MAX_EXAMPLES)
