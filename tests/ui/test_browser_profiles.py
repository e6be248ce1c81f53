"""Your voice profile in a real headless browser, against the real API serving the shipped
model (its speaker-adapted head is what makes profiles exist): enrol in one request, reload
the page, find the profile again, use it and forget it (issue 34). Skips like
``test_browser`` when Chromium or Playwright is missing. Screenshot:
``test-artifacts/ui-e2e-voice-after-reload.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.audio import harmonic_tone, write_audio
from tests.ui.live_servers import REPO_ROOT, live_api, live_ui
from tests.ui.test_browser import _file_input, _screenshot, _skip_reason, opened_page

pytestmark = pytest.mark.browser

SHIPPED_MODEL = REPO_ROOT / "models" / "ser_model.onnx"


@pytest.fixture(scope="module")
def shipped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    reason = _skip_reason() or (None if SHIPPED_MODEL.is_file() else "no shipped model")
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("shipped-stack")
    db = str(workdir / "profiles.sqlite3")
    with (
        live_api(workdir, model=SHIPPED_MODEL, SER_SPEAKER_DB=db) as api_url,
        live_ui(workdir, api_url) as ui_url,
    ):
        yield api_url, ui_url


@pytest.fixture
def browser_page(shipped_stack: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[Any]:
    with opened_page(shipped_stack[1], request) as page:
        yield page


def test_a_reload_keeps_the_voice_profile_reachable_and_deletable(
    shipped_stack: tuple[str, str], browser_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    api_url = shipped_stack[0]
    page = browser_page  # already on the page
    clips = [
        str(write_audio(tmp_path / f"me{i}.wav", harmonic_tone(4.0, f0_hz=120 + 30 * i, seed=i)))
        for i in range(3)
    ]
    sidebar = page.get_by_test_id("stSidebar")
    _file_input(page, "Clips of your voice").set_input_files(clips)
    sidebar.get_by_role("button", name="Enrol 3 clips").click()
    expect(sidebar.locator("p", has_text="Your profile:")).to_contain_text("3 clips")
    (stored,) = httpx.get(f"{api_url}/speakers").json()["speakers"]

    page.reload(wait_until="domcontentloaded")  # the session, and the id it held, are gone
    picker = sidebar.get_by_test_id("stSelectbox").filter(has_text="Voice profiles made before")
    expect(picker).to_be_visible()
    picker.click()
    page.get_by_role("option", name=f"{stored['clips']} clips").click()
    sidebar.get_by_role("button", name="Use this profile").click()
    expect(sidebar.locator("p", has_text="Your profile:")).to_contain_text("3 clips")
    _screenshot(page, "ui-e2e-voice-after-reload.png")

    sidebar.get_by_role("button", name="Forget my voice").click()
    expect(sidebar.get_by_text("deleted from the analysis service")).to_be_visible()
    assert httpx.get(f"{api_url}/speakers").json()["speakers"] == []
    assert httpx.get(f"{api_url}/speakers/{stored['speaker']}").status_code == 404
    assert page.get_by_test_id("stException").count() == 0


def test_an_enrolment_with_bad_files_names_each_and_stores_nothing(
    shipped_stack: tuple[str, str], browser_page: Any, tmp_path: Path
) -> None:
    """Issue 34: ten good clips and bad ones in one choice; the page names every bad file
    with the API's reason, and no profile exists afterwards (one request, all or nothing)."""
    from playwright.sync_api import expect

    api_url, page = shipped_stack[0], browser_page
    good = [
        str(write_audio(tmp_path / f"good{i}.wav", harmonic_tone(3.0, f0_hz=110 + 15 * i, seed=i)))
        for i in range(10)
    ]
    silent = write_audio(tmp_path / "silent.wav", np.zeros(48_000, dtype=np.float32))
    notes = tmp_path / "notes.wav"
    notes.write_bytes(b"these are meeting notes, not audio")
    _file_input(page, "Clips of your voice").set_input_files([*good, str(silent), str(notes)])
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="Enrol 12 clips").click()
    alert = sidebar.get_by_test_id("stAlert").filter(has_text="could not analyse the clips")
    expect(alert).to_contain_text("silent.wav")
    expect(alert).to_contain_text("notes.wav")
    assert httpx.get(f"{api_url}/speakers").json()["speakers"] == []
    expect(sidebar.locator("p", has_text="Your profile:")).to_have_count(0)
    _screenshot(page, "ui-e2e-enrol-bad-files.png")


def test_the_about_tab_sums_up_the_shipped_model_in_numbers(
    shipped_stack: tuple[str, str], browser_page: Any
) -> None:
    """The plain summary comes from the shipped model's own GET /model figures: its held-out
    speakers' accuracy and the held-out corpora's range, as the page prints them."""
    from playwright.sync_api import expect

    info = httpx.get(f"{shipped_stack[0]}/model").json()
    known = info["metrics"]["held_out_speakers"]["all"]["accuracy"]
    unseen = [v["accuracy"] for v in info["metrics"]["leave_one_corpus_out"].values()]
    page = browser_page
    page.get_by_role("tab", name="About the model").click()
    summary = page.get_by_test_id("stAlert").filter(has_text="In short.")
    expect(summary).to_contain_text(f"{100 * known:.0f} %")
    expect(summary).to_contain_text(f"{100 * min(unseen):.0f}–{100 * max(unseen):.0f} %")
    expect(summary).to_contain_text("Not sure")
    _screenshot(page, "ui-e2e-about-shipped.png")
