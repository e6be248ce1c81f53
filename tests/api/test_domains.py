"""Domain profiles over HTTP (issue 30): POST/GET/DELETE /domains, POST /domains/{id}/clips,
GET /domains and /speakers (a key's list), ``/predict?domain=ID`` alone and with ``?speaker``
or ``?adapt=self``, ``WS /stream?domain=ID``; served from the tiny v3 graph's random adapted
head (usable domain profiles from 3 voiced windows, a domain counting as 2 prior windows of a
speaker's); every number is checked against the classifier called directly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ser_contract import DomainList, DomainResponse, PredictionResponse, SpeakerList
from ser_contract.stream import UNSUPPORTED
from ser_encoders import EncoderSpec
from ser_inference import EmotionClassifier, SpeakerStats
from tests.api.conftest import upload
from tests.api.test_speakers import (
    CLIP1,
    CLIP2,
    CLIP3,
    ID,
    KEY_A,
    KEY_B,
    LIMITS,
    LONG,
    TOLERANCE,
    create,
    enrolled,
    files,
    probabilities,
    service,
)
from tests.api.test_speakers_stream import SPEECH, pcm, stream
from tests.api.test_stream import UNPACED, assert_closed, assert_matches_predict, closed_with

pytestmark = pytest.mark.training  # the tiny v3 models are exported with TensorFlow


@pytest.fixture(scope="module")
def speakers_only_model(tiny_v3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapted head from before issue 30: not trained for domain profiles."""
    from tests.support.v3_model import export_adapted_v3_model

    target = tmp_path_factory.mktemp("v3-speakers-only") / "speakers_only.onnx"
    return export_adapted_v3_model(tiny_v3_model, target, max_dominant_share=1.0,
                                   domain_min_windows=0)  # fmt: skip


def create_domain(client: TestClient, *clips: bytes, **kwargs: object) -> dict:
    return create(client, *clips, kind="domains", **kwargs)


def rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_domain_profile_holds_the_statistics_of_every_window_of_its_recordings(
    adapted: Path, classifier: EmotionClassifier, db: Path
) -> None:
    with service(adapted, db) as client:
        response = client.post("/domains", files=files(CLIP1, LONG))
        assert response.status_code == 201, response.text
        body = DomainResponse.model_validate(response.json())
        summary = client.get(f"/domains/{body.domain}").json()
    direct = enrolled(classifier, CLIP1, LONG)
    assert ID.fullmatch(body.domain)
    assert response.headers["location"] == f"/domains/{body.domain}"
    # A long recording counts as its windows: 1 + 3 voiced windows.
    assert (body.clips, body.seconds, body.windows) == (2, 9.0, direct.n_windows) == (2, 9.0, 4)
    assert body.usable and body.reason is None
    assert summary == response.json()
    assert rows(db, "domains") == 1 and rows(db, "speakers") == 0  # its own table


def test_too_few_windows_for_a_domain_are_stored_but_flagged_with_the_reason(
    adapted: Path, db: Path
) -> None:
    """The speaker rule would accept 2 windows; a domain needs 3 (the model's own rule)."""
    with service(adapted, db) as client:
        body = create_domain(client, CLIP1, CLIP2)
        assert body["usable"] is False
        assert body["reason"].startswith("too little speech: 2 voiced window(s), at least 3")
        grown = client.post(f"/domains/{body['domain']}/clips", files=files(CLIP3))
        assert grown.status_code == 200, grown.text
        assert (grown.json()["windows"], grown.json()["usable"]) == (3, True)
        # An unusable domain answers plain, saying why.
        flagged = create_domain(client, CLIP1)
        answer = client.post(f"/predict?domain={flagged['domain']}", files=upload(CLIP2)).json()
    assert answer["adapted"] is False and answer["adaptation"] is None
    assert answer["domain"] == flagged["domain"]
    assert answer["adaptation_reason"].startswith("too little speech: 1 voiced window(s)")


def _expected(
    classifier: EmotionClassifier, data: bytes, stats: SpeakerStats
) -> tuple[np.ndarray, np.ndarray]:
    """(adapted, plain) recording probabilities for these statistics, straight from the graph."""
    prepared = classifier.prepare(data, LIMITS)
    plain, adapted = classifier.run_adapted(prepared.utterance.features, stats)
    expected = classifier.assemble(
        prepared, adapted, 0.0, calibration=classifier.adapted_calibration
    )
    return expected.probabilities, classifier.assemble(prepared, plain, 0.0).probabilities


def test_predict_with_a_domain_uses_the_domain_statistics_and_says_so(
    adapted: Path, classifier: EmotionClassifier, db: Path
) -> None:
    with service(adapted, db) as client:
        domain = create_domain(client, CLIP1, LONG)["domain"]
        answer = client.post(f"/predict?domain={domain}", files=upload(CLIP3)).json()
    PredictionResponse.model_validate(answer)
    stats = enrolled(classifier, CLIP1, LONG)
    adapted_p, plain_p = _expected(classifier, CLIP3, stats)
    assert answer["adapted"] is True and answer["adaptation"] == "domain"
    assert answer["domain"] == domain and answer["speaker"] is None
    assert answer["adaptation_reason"] is None
    np.testing.assert_allclose(probabilities(answer), adapted_p, atol=TOLERANCE)
    np.testing.assert_allclose(
        list(answer["plain"]["probabilities"].values()), plain_p, atol=TOLERANCE
    )
    # The plain answer is not the adapted one (the random head differs): the test can fail.
    assert not np.allclose(adapted_p, plain_p, atol=1e-3)


def test_speaker_and_domain_together_use_the_speaker_windows_with_the_domain_as_prior(
    adapted: Path, classifier: EmotionClassifier, db: Path
) -> None:
    with service(adapted, db) as client:
        domain = create_domain(client, CLIP1, LONG)["domain"]
        speaker = create(client, CLIP2, CLIP3)["speaker"]
        both = client.post(f"/predict?speaker={speaker}&domain={domain}", files=upload(CLIP1))
        self_domain = client.post(f"/predict?adapt=self&domain={domain}", files=upload(LONG))
    rule = classifier.require_domains()
    combined = enrolled(classifier, CLIP2, CLIP3).with_prior(
        enrolled(classifier, CLIP1, LONG), rule.domain_prior_windows
    )
    answer = both.json()
    assert answer["adaptation"] == "speaker+domain" and answer["adapted"] is True
    assert (answer["speaker"], answer["domain"]) == (speaker, domain)
    np.testing.assert_allclose(
        probabilities(answer), _expected(classifier, CLIP1, combined)[0], atol=TOLERANCE
    )
    own = enrolled(classifier, LONG).with_prior(
        enrolled(classifier, CLIP1, LONG), rule.domain_prior_windows
    )
    answer = self_domain.json()
    assert (answer["speaker"], answer["adaptation"]) == ("self", "speaker+domain")
    np.testing.assert_allclose(
        probabilities(answer), _expected(classifier, LONG, own)[0], atol=TOLERANCE
    )


def test_an_unusable_speaker_falls_back_to_the_domain_and_names_the_speaker_s_reason(
    adapted: Path, classifier: EmotionClassifier, db: Path
) -> None:
    with service(adapted, db) as client:
        domain = create_domain(client, CLIP1, LONG)["domain"]
        speaker = create(client, CLIP2)["speaker"]  # 1 window: unusable
        answer = client.post(f"/predict?speaker={speaker}&domain={domain}", files=upload(CLIP3))
    answer = answer.json()
    assert answer["adapted"] is True and answer["adaptation"] == "domain"
    assert answer["adaptation_reason"].startswith("speaker profile not used: too little speech")
    np.testing.assert_allclose(
        probabilities(answer),
        _expected(classifier, CLIP3, enrolled(classifier, CLIP1, LONG))[0],
        atol=TOLERANCE,
    )


def test_domains_survive_a_restart_belong_to_their_key_and_vanish_on_delete(
    adapted: Path, db: Path
) -> None:
    keys = {"api_keys": f"{KEY_A},{KEY_B}"}
    a = {"Authorization": f"Bearer {KEY_A}"}
    b = {"Authorization": f"Bearer {KEY_B}"}
    with service(adapted, db, **keys) as client:
        domain = create_domain(client, CLIP1, LONG, headers=a)["domain"]
    with service(adapted, db, **keys) as client:  # a new process on the same file
        assert client.get(f"/domains/{domain}", headers=a).status_code == 200
        listed = DomainList.model_validate(client.get("/domains", headers=a).json())
        assert [d.domain for d in listed.domains] == [domain]
        assert client.get("/domains", headers=b).json() == {"domains": []}
        for method, path in (("get", f"/domains/{domain}"), ("delete", f"/domains/{domain}")):
            assert client.request(method, path, headers=b).status_code == 404
        missing = client.post(f"/predict?domain={domain}", files=upload(CLIP1), headers=b)
        assert missing.status_code == 404
        assert "no domain profile" in missing.json()["detail"]
        assert client.delete(f"/domains/{domain}", headers=a).status_code == 204
        assert client.get(f"/domains/{domain}", headers=a).status_code == 404
        assert (
            client.post(f"/predict?domain={domain}", files=upload(CLIP1), headers=a).status_code
            == 404
        )
        assert client.delete(f"/domains/{domain}", headers=a).status_code == 404
    assert rows(db, "domains") == 0


def test_speakers_are_listed_for_their_owner(adapted: Path, db: Path) -> None:
    with service(adapted, db) as client:
        first = create(client, CLIP1, CLIP2)["speaker"]
        second = create(client, CLIP3)["speaker"]
        listed = SpeakerList.model_validate(client.get("/speakers").json())
    assert [s.speaker for s in listed.speakers] == [first, second]
    assert [s.usable for s in listed.speakers] == [True, False]


def test_domain_caps_and_bad_clips_refuse_and_store_nothing(adapted: Path, db: Path) -> None:
    with service(adapted, db, max_domains_per_key=1, max_clips_per_domain=2) as client:
        too_many_clips = client.post("/domains", files=files(CLIP1, CLIP2, CLIP3))
        assert too_many_clips.status_code == 409
        assert "SER_MAX_CLIPS_PER_DOMAIN" in too_many_clips.json()["detail"]
        bad = client.post("/domains", files=files(CLIP1, b"not audio", names=("ok.wav", "bad.wav")))
        assert bad.status_code in (415, 422), bad.text
        assert "'bad.wav'" in bad.json()["detail"] and "nothing was stored" in bad.json()["detail"]
        assert rows(db, "domains") == 0
        create_domain(client, CLIP1)
        second = client.post("/domains", files=files(CLIP2))
        assert second.status_code == 409
        assert "SER_MAX_DOMAINS_PER_KEY" in second.json()["detail"]
        assert client.get("/domains/not an id!").status_code == 404


def test_a_head_not_trained_for_domains_refuses_them_but_keeps_speakers(
    speakers_only_model: Path, known_tiny_encoder: EncoderSpec, db: Path
) -> None:
    with service(speakers_only_model, db) as client:
        refused = client.post("/domains", files=files(CLIP1))
        assert refused.status_code == 409
        assert "not trained for domain profiles" in refused.json()["detail"]
        assert client.get("/domains").status_code == 409
        assert client.post("/predict?domain=abc", files=upload(CLIP1)).status_code == 409
        assert client.post("/speakers", files=files(CLIP1)).status_code == 201


def test_a_stream_with_a_domain_is_answered_as_predict_with_that_domain(
    adapted: Path, db: Path
) -> None:
    with service(adapted, db, **UNPACED) as client:
        domain = create_domain(client, CLIP1, LONG)["domain"]
        speaker = create(client, CLIP2, CLIP3)["speaker"]
        answer = client.post(f"/predict?domain={domain}", files=upload(SPEECH)).json()
        start, windows, summary = stream(client, f"/stream?domain={domain}", pcm(SPEECH))
        both = client.post(
            f"/predict?speaker={speaker}&domain={domain}", files=upload(SPEECH)
        ).json()
        both_start, both_windows, both_summary = stream(
            client, f"/stream?speaker={speaker}&domain={domain}", pcm(SPEECH)
        )
        unknown = closed_with(client, "/stream?domain=AAAAAAAAAAAAAAAAAAAAAA")
    assert (start["domain"], start["adapted"], start["adaptation"]) == (domain, True, "domain")
    assert answer["adaptation"] == "domain"
    # A window alone through the graph, or with the recording's others: float32 sums in
    # another order (the tiny model's 1e-3 std floor magnifies it to ~1e-5).
    assert_matches_predict(windows, summary, answer, tolerance=1e-4)
    assert (both_start["speaker"], both_start["adaptation"]) == (speaker, "speaker+domain")
    assert_matches_predict(both_windows, both_summary, both, tolerance=1e-4)
    assert_closed(unknown, UNSUPPORTED, "no domain profile 'AAAAAAAAAAAAAAAAAAAAAA'")
