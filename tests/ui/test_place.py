"""Domain profiles in the page (issue 30): "Your recordings" in the sidebar lists the key's
profiles from the API (a reload loses none), makes one from a sample in one request, adapts
answers to the chosen one, and deletes it (Streamlit's AppTest, the HTTP client stubbed)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ser_ui import client as api
from tests.ui.conftest import (
    ADAPTATION,
    DOMAIN_MIN_WINDOWS,
    StubApiClient,
    make_model_info,
)
from tests.ui.test_app import APP_PATH, RUN_TIMEOUT_S, speech_wav, upload
from tests.ui.test_voice import main_text, sidebar_text

DOMAIN_ADAPTATION = ADAPTATION | {
    "domain_min_windows": DOMAIN_MIN_WINDOWS,
    "domain_prior_windows": 32,
}


def start(stub_client: StubApiClient) -> AppTest:
    stub_client.model_info_fn = lambda: make_model_info(DOMAIN_ADAPTATION)
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    return at


def recordings(at: AppTest, n: int) -> AppTest:
    files = [(f"r{i}.wav", speech_wav(seed=30 + i), "audio/wav") for i in range(n)]
    at.file_uploader(key="domain_files").set_value(files)
    return at.run()


def test_a_model_not_trained_for_domains_shows_no_step(stub_client: StubApiClient) -> None:
    stub_client.model_info_fn = lambda: make_model_info(ADAPTATION)
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert "Your recordings" not in sidebar_text(at)
    assert "list_domains" not in stub_client.calls


def test_a_profile_is_made_in_one_request_chosen_used_for_answers_and_deleted(
    stub_client: StubApiClient,
) -> None:
    at = start(stub_client)
    page = sidebar_text(at)
    assert "Your recordings" in page and f"at least {DOMAIN_MIN_WINDOWS} windows" in page
    assert stub_client.calls == ["model_info", "list_speakers", "list_domains"]
    assert at.button(key="domain_run").disabled

    recordings(at, 5)
    at.button(key="domain_run").click().run()
    assert not at.exception, at.exception
    assert "create_domain:r0.wav,r1.wav,r2.wav,r3.wav,r4.wav" in stub_client.calls  # one request
    assert "Profile made from 5 recordings (15 windows)." in sidebar_text(at)
    assert at.selectbox(key="domain_choice").value == "dom-1"  # the new one is chosen
    assert at.button(key="domain_run").disabled  # the same files again: no second profile

    upload(at, "clip.wav", speech_wav(seed=1))
    assert "predict:clip.wav?domain=dom-1" in stub_client.calls
    assert "Adapted to your recordings" in main_text(at)

    at.button(key="domain_delete").click().run()
    assert "delete_domain:dom-1" in stub_client.calls and not stub_client.domains
    assert "deleted from the analysis service" in sidebar_text(at)
    assert not at.selectbox  # no profile left to choose


def test_a_reload_lists_the_profiles_the_api_keeps(stub_client: StubApiClient) -> None:
    stub_client.domains = {"dom-1": 8, "dom-2": 2}
    at = start(stub_client)  # a new session: nothing in its state
    choice = at.selectbox(key="domain_choice")
    assert choice.options[1:] == [
        "8 recordings · 24 windows · ready · 2026-12-07 10:00",
        "2 recordings · 6 windows · not used yet · 2026-12-07 10:00",
    ]
    choice.set_value("dom-2").run()
    assert "too little speech: 6 voiced window(s)" in sidebar_text(at)
    upload(at, "clip.wav", speech_wav(seed=2))
    assert "predict:clip.wav" in stub_client.calls  # an unusable profile is not asked for


def test_a_refused_sample_is_named_and_nothing_is_kept(stub_client: StubApiClient) -> None:
    at = start(stub_client)
    stub_client.domain_error = api.ApiRejectedError(
        "file 2 of 2 ('r1.wav') cannot be enrolled: silent; nothing was stored",
        status_code=422, endpoint="POST /domains",
    )  # fmt: skip
    recordings(at, 2)
    at.button(key="domain_run").click().run()
    assert not at.exception, at.exception
    text = sidebar_text(at)
    assert "'r1.wav'" in text and "nothing was stored" in text
    assert not stub_client.domains


@pytest.mark.parametrize("chosen", [65])
def test_more_files_than_one_request_takes_are_refused_before_sending(
    stub_client: StubApiClient, chosen: int
) -> None:
    at = start(stub_client)
    recordings(at, chosen)
    assert at.button(key="domain_run").disabled
    assert f"{chosen} files chosen" in sidebar_text(at)
