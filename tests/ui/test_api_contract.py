"""The UI's client against the real API: the shapes it parses are the shapes it gets.

Catches drift between ``ser_ui.client`` and ``ser_api`` that stubbed tests cannot see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ser_ui import client as api
from tests.support.audio import harmonic_tone, wav_bytes
from tests.ui.live_servers import api_import_problem, live_api

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.ApiClient]:
    problem = api_import_problem()
    if problem:
        pytest.skip(problem)
    workdir: Path = tmp_path_factory.mktemp("api")
    with live_api(workdir) as url, api.ApiClient(url) as client:
        yield client


def test_health_and_model_info_parse(client: api.ApiClient) -> None:
    health = client.health()
    assert health.status == "ok" and health.model_loaded is True
    info = client.model_info()
    assert info.model_version == "tiny-test-0"
    assert info.labels == ["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
    assert info.metrics["protocol"].startswith("none")
    assert info.limits.max_batch_files >= 1 and info.limits.max_upload_bytes > 0
    assert info.calibration.calibrated is False  # the tiny model carries no calibration


def test_prediction_of_a_long_clip_has_a_timeline(client: api.ApiClient) -> None:
    prediction = client.predict(api.AudioFile("speech.wav", wav_bytes(harmonic_tone(3.0))))
    assert prediction.emotion in prediction.probabilities
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert prediction.duration_s == pytest.approx(3.0, abs=0.01)
    assert prediction.format == "WAV" and prediction.channels == 1
    assert len(prediction.segments) > 1
    assert all(0 <= s.arousal <= 1 and -1 <= s.valence <= 1 for s in prediction.segments)


def test_rejected_upload_detail_reaches_the_client_verbatim(client: api.ApiClient) -> None:
    content = b"this is a text file, not audio"
    raw = httpx.post(
        f"{client.base_url}/predict", files={"file": ("notes.wav", content, "audio/wav")}
    )
    assert raw.status_code == 422
    with pytest.raises(api.ApiRejectedError) as caught:
        client.predict(api.AudioFile("notes.wav", content))
    assert caught.value.status_code == 422
    assert caught.value.detail == raw.json()["detail"]


def test_batch_mixes_results_and_refusals_in_order(client: api.ApiClient) -> None:
    good = api.AudioFile("good.wav", wav_bytes(harmonic_tone(1.5)))
    bad = api.AudioFile("bad.wav", b"not audio")
    items = client.predict_batch([good, bad, good])
    assert [item.filename for item in items] == ["good.wav", "bad.wav", "good.wav"]
    assert [item.ok for item in items] == [True, False, True]
    assert items[1].error.status_code == 422 and items[1].error.detail


def test_a_model_without_an_adapted_head_refuses_enrolment_and_adaptation_with_409(
    client: api.ApiClient,
) -> None:
    # The tiny model has no speaker-adapted head: GET /model says so (the page then keeps
    # enrolment off), and every speaker call is refused with a reason to show.
    assert client.model_info().adaptation is None
    clip = api.AudioFile("me.wav", wav_bytes(harmonic_tone(2.0)))
    calls = [
        lambda: client.enrol([clip]),
        lambda: client.predict(clip, speaker="spk-1"),
        lambda: client.predict(clip, adapt_self=True),
    ]
    for call in calls:
        with pytest.raises(api.ApiRejectedError) as caught:
            call()
        assert caught.value.status_code == 409, caught.value
        assert caught.value.detail
    assert client.predict(clip).adapted is False
