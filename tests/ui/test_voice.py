"""Speaker adaptation in the page (issue 24): enrol your voice in the sidebar, then compare
the answer adapted to it with the plain one (Streamlit's AppTest, the HTTP client stubbed).

The stub (``tests/ui/conftest.py``) keeps profiles like the API does: each enrolled clip
counts ``WINDOWS_PER_CLIP`` voiced windows, and a profile is usable from the stub model's
``min_windows`` on (3 clips).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from ser_ui import app as app_module
from ser_ui import client as api
from tests.ui.conftest import ADAPTATION, StubApiClient, make_model_info, make_prediction
from tests.ui.test_app import APP_PATH, RUN_TIMEOUT_S, elements, speech_wav, upload


@pytest.fixture
def voice_app(stub_client: StubApiClient) -> AppTest:
    """The page of a model that can adapt, run once."""
    stub_client.model_info_fn = lambda: make_model_info(ADAPTATION)
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    return at


def sidebar_text(at: AppTest) -> str:
    parts = []
    for kind in ("header", "markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(element.value) for element in getattr(at.sidebar, kind)]
    return "\n".join(parts)


def main_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(element.value) for element in getattr(at.main, kind)]
    return "\n".join(parts)


def choose(at: AppTest, *names: str) -> AppTest:
    """Put clips named ``names`` (distinct audio each) in the enrolment uploader."""
    files = [(name, speech_wav(seed=10 + i), "audio/wav") for i, name in enumerate(names)]
    at.file_uploader(key="enrol_files").set_value(files)
    return at.run()


def enrol(at: AppTest, *names: str) -> AppTest:
    choose(at, *names)
    at.button(key="enrol_run").click().run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(metric.label, metric.value) for metric in at.main.metric]


def chart_order(chart: Any) -> list[str]:
    """The emotions of a probability bar chart, top bar first."""
    spec = json.loads(chart.proto.spec)
    return spec["layer"][0]["encoding"]["y"]["sort"]


# --------------------------------------------------------------------------------------
# Enrolment


def test_enrolling_shows_the_profile_and_why_it_is_not_used_until_more_clips_come(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    at = voice_app
    page = sidebar_text(at)
    assert "Your voice" in page
    # The rule comes from GET /model adaptation: 8 windows, at most 70 % one emotion.
    assert "at least 8 windows of speech" in page and "70 % of them" in page
    assert at.button(key="enrol_run").disabled  # nothing chosen yet
    assert not at.toggle  # no profile, no switch

    choose(at, "a.wav", "b.wav")
    assert at.button(key="enrol_run").label == "Enrol 2 clips"
    # Nothing is sent before the click (the key's stored profiles are listed: none yet).
    assert stub_client.calls == ["model_info", "list_speakers"]
    at.button(key="enrol_run").click().run()

    assert not at.exception
    assert stub_client.calls[-1] == "enrol:a.wav,b.wav"
    assert at.session_state[app_module.SPEAKER_ID_KEY] == "spk-1"
    page = sidebar_text(at)
    assert "2 clips · 3.0 s · 6 windows of speech" in page
    assert "Not used yet:** too little speech: 6 voiced window(s), at least 8 needed" in page
    assert at.toggle(key="adapt").disabled  # an unusable profile cannot be switched on
    # The chosen clips are in the profile now: not offered (or counted) again.
    assert at.button(key="enrol_run").label == "Add 0 clips to my profile"
    assert at.button(key="enrol_run").disabled
    assert "in your profile already" in page

    choose(at, "a.wav", "b.wav", "c.wav")
    assert at.button(key="enrol_run").label == "Add 1 clip to my profile"
    at.button(key="enrol_run").click().run()
    assert stub_client.calls[-1] == "add_clips:spk-1:c.wav"  # only the new clip
    page = sidebar_text(at)
    assert "3 clips · 4.5 s · 9 windows of speech" in page
    assert "Ready" in page and "Not used yet" not in page
    assert not at.toggle(key="adapt").disabled


def test_a_recording_is_enrolled_too(voice_app: AppTest, stub_client: StubApiClient) -> None:
    choose(voice_app, "a.wav")
    voice_app.audio_input(key="enrol_recording").set_value(
        ("audio.wav", speech_wav(seed=3), "audio/wav")
    )
    voice_app.run()
    assert voice_app.button(key="enrol_run").label == "Enrol 2 clips"
    voice_app.button(key="enrol_run").click().run()
    assert stub_client.calls[-1] == "enrol:a.wav,recording.wav"


def test_a_refused_clip_is_named_and_nothing_is_enrolled(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    detail = "File 'notes.wav' could not be decoded as audio."
    stub_client.speaker_error = api.ApiRejectedError(
        detail, status_code=422, endpoint="POST /speakers"
    )
    enrol(voice_app, "a.wav", "notes.wav")
    message = "\n".join(error.value for error in voice_app.sidebar.error)
    assert "could not analyse the clips of your voice" in message and detail in message
    assert app_module.SPEAKER_ID_KEY not in voice_app.session_state
    assert voice_app.button(key="enrol_run").label == "Enrol 2 clips"  # may be sent again

    choose(voice_app, "a.wav")  # the bad clip removed: its message goes with it
    assert not voice_app.sidebar.error


def test_many_clips_are_enrolled_in_one_request_so_all_or_none_are_stored(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    """Issue 34: the page sent 8 files a request, so a bad 11th clip left a profile of 8
    beside a message that nothing was stored. One request: the API's all-or-nothing holds."""
    names = [f"c{i}.wav" for i in range(11)]
    enrol(voice_app, *names)
    assert [c for c in stub_client.calls if c.startswith(("enrol", "add_clips"))] == [
        "enrol:" + ",".join(names)
    ]
    assert "11 clips" in sidebar_text(voice_app)


def test_more_clips_than_one_enrolment_takes_are_refused_before_sending(
    stub_client: StubApiClient,
) -> None:
    info = make_model_info(ADAPTATION)
    info = info.model_copy(update={"limits": info.limits.model_copy(update={"max_enrol_files": 3})})
    stub_client.model_info_fn = lambda: info
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    choose(at, "a.wav", "b.wav", "c.wav", "d.wav")
    assert at.button(key="enrol_run").disabled
    assert "one enrolment takes at most 3" in sidebar_text(at)
    choose(at, "a.wav", "b.wav", "c.wav")
    assert not at.button(key="enrol_run").disabled
    assert not any(c.startswith("enrol") for c in stub_client.calls)


def test_an_enrolment_that_may_have_half_happened_asks_the_api_what_the_profile_holds(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    enrol(voice_app, "a.wav")
    stub_client.speaker_error = api.ApiUnavailableError(
        "cannot reach the API (Server disconnected without sending a response.)"
    )
    choose(voice_app, "a.wav", "b.wav")
    voice_app.button(key="enrol_run").click().run()
    assert "add_clips:spk-1:b.wav" in stub_client.calls
    # The answer was lost, so the page cannot know whether b.wav was counted: it asks.
    assert stub_client.calls[-1] == "get_speaker:spk-1"
    assert "not reachable" in "\n".join(error.value for error in voice_app.sidebar.error)
    assert "1 clip · 1.5 s · 3 windows of speech" in sidebar_text(voice_app)


def test_forgetting_the_voice_deletes_the_profile_and_ends_adaptation(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    enrol(voice_app, "a.wav", "b.wav", "c.wav")
    upload(voice_app, "speech.wav", speech_wav())
    voice_app.toggle(key="adapt").set_value(True).run()
    assert [label for label, _ in metrics(voice_app)][:2] == ["Emotion", "Confidence"]

    voice_app.button(key="forget_voice").click().run()
    assert not voice_app.exception
    # Deleted, then the key's profiles listed again (none left to offer).
    assert stub_client.calls[-2:] == ["delete_speaker:spk-1", "list_speakers"]
    assert stub_client.speakers == {}
    assert not voice_app.selectbox  # no profile to pick
    for key in (app_module.SPEAKER_ID_KEY, app_module.SPEAKER_KEY, app_module.ENROLLED_KEY):
        assert key not in voice_app.session_state
    assert "deleted from the analysis service" in sidebar_text(voice_app)
    assert not voice_app.toggle  # nothing to adapt to
    assert (
        dict(metrics(voice_app))["Detected emotion"] == ":material/sentiment_very_satisfied: Happy"
    )  # the plain answer
    # The clips still chosen are no longer in any profile: they may be enrolled anew.
    assert voice_app.button(key="enrol_run").label == "Enrol 3 clips"
    assert not [b for b in voice_app.sidebar.button if b.key == "forget_voice"]


def test_a_failed_deletion_keeps_the_profile(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    enrol(voice_app, "a.wav")
    stub_client.speaker_error = api.ApiServerError("database is locked", status_code=500)
    voice_app.button(key="forget_voice").click().run()
    assert voice_app.session_state[app_module.SPEAKER_ID_KEY] == "spk-1"
    assert "database is locked" in "\n".join(e.value for e in voice_app.sidebar.error)


def test_after_a_reload_the_person_picks_their_profile_again_and_can_forget_it(
    stub_client: StubApiClient,
) -> None:
    """Issue 34: a reload lost the profile to its owner while the service kept it. A page
    without one lists the key's profiles (GET /speakers) to take up or delete."""
    stub_client.model_info_fn = lambda: make_model_info(ADAPTATION)
    stub_client.speakers = {"spk-1": 3, "spk-2": 1}  # made in an earlier session
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert "list_speakers" in stub_client.calls
    picker = at.selectbox(key="speaker_pick")
    assert picker.options[1:] == [
        "3 clips · 9 windows · ready · made 2026-12-06 19:00",
        "1 clip · 3 windows · not used yet · made 2026-12-06 19:00",
    ]
    assert "forget_voice" not in [button.key for button in at.button]  # none chosen yet
    picker.set_value("spk-1").run()
    at.button(key="speaker_use").click().run()
    assert at.session_state[app_module.SPEAKER_ID_KEY] == "spk-1"
    assert "3 clips · 4.5 s · 9 windows of speech" in sidebar_text(at)
    at.button(key="forget_voice").click().run()
    assert "delete_speaker:spk-1" in stub_client.calls and stub_client.speakers == {"spk-2": 1}
    assert at.selectbox(key="speaker_pick").options[1:] == [
        "1 clip · 3 windows · not used yet · made 2026-12-06 19:00"
    ]


def test_a_model_that_cannot_adapt_says_so_and_keeps_enrolment_off(
    stub_client: StubApiClient,
) -> None:
    # The default stub model has no adapted head (GET /model adaptation: null).
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception
    assert app_module.NO_ADAPTATION_NOTE in sidebar_text(at)
    assert at.file_uploader(key="enrol_files").disabled
    assert at.audio_input(key="enrol_recording").proto.disabled
    assert at.button(key="enrol_run").disabled
    # A profile from before (another model) offers no switch either.
    at.session_state[app_module.SPEAKER_ID_KEY] = "spk-1"
    at.session_state[app_module.SPEAKER_KEY] = api.Speaker.model_validate(
        {"speaker": "spk-1", "clips": 4, "seconds": 6.0, "windows": 12, "usable": True,
         "reason": None, "created_at": "2026-12-06T19:00:00Z",
         "updated_at": "2026-12-06T19:00:00Z"}
    )  # fmt: skip
    upload(at, "speech.wav", speech_wav())
    assert not at.toggle
    assert stub_client.calls[-1] == "predict:speech.wav"


# --------------------------------------------------------------------------------------
# Adapted answers


def test_adapt_to_my_voice_shows_the_adapted_and_the_plain_answer_side_by_side(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    enrol(voice_app, "a.wav", "b.wav", "c.wav")
    upload(voice_app, "speech.wav", speech_wav())
    assert stub_client.calls[-1] == "predict:speech.wav"  # off by default: the plain answer
    assert len(elements(voice_app, "vega_lite_chart")) == 1

    voice_app.toggle(key="adapt").set_value(True).run()
    assert not voice_app.exception
    assert stub_client.calls[-1] == "predict:speech.wav?speaker=spk-1"
    assert metrics(voice_app) == [
        ("Emotion", ":material/sentiment_sad: Sad"), ("Confidence", "74 %"),  # adapted
        ("Emotion", ":material/sentiment_neutral: Neutral"), ("Confidence", "55 %"),  # plain
    ]  # fmt: skip
    page = main_text(voice_app)
    assert page.index("Adapted to your voice") < page.index("Plain model")
    assert app_module.ADAPTED_CAPTION in page
    # Each head's own "not sure" threshold beside its answer (the adapted one's from
    # GET /model adaptation, the plain one's with its measured accuracy).
    rules = [c.value for c in voice_app.caption if c.value.startswith("Named only at")]
    assert rules == [
        f"Named only at {100 * ADAPTATION['uncertain_below']:.0f} % confidence or more.",
        "Named only at 70 % confidence or more: such answers were right 81 % of the time on "
        "new voices, less often on recordings unlike its training data.",
    ]
    adapted_bars, plain_bars = elements(voice_app, "vega_lite_chart")
    assert chart_order(adapted_bars)[0] == "sad" and chart_order(plain_bars)[0] == "neutral"
    assert len(elements(voice_app, "image")) == 3  # plane, waveform, spectrogram as before

    # Switching back and forth asks nothing again: both answers are remembered.
    voice_app.toggle(key="adapt").set_value(False).run()
    assert (
        dict(metrics(voice_app))["Detected emotion"] == ":material/sentiment_very_satisfied: Happy"
    )
    voice_app.toggle(key="adapt").set_value(True).run()
    assert sum(call.startswith("predict:") for call in stub_client.calls) == 2

    # More clips change the profile, and so the adapted answer: asked again.
    enrol(voice_app, "a.wav", "b.wav", "c.wav", "d.wav")
    assert stub_client.calls[-1] == "predict:speech.wav?speaker=spk-1"
    assert sum(call.startswith("predict:") for call in stub_client.calls) == 3


def test_an_unsure_adapted_answer_says_not_sure_in_its_column(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    stub_client.speaker_predict_fn = lambda audio, speaker: make_prediction(
        "sad", 0.35, uncertain=True, speaker=speaker, adapted=True,
        plain=make_prediction("angry", 0.8).model_dump(
            include={"emotion", "confidence", "uncertain", "arousal", "valence", "probabilities"}
        ),
    )  # fmt: skip
    enrol(voice_app, "a.wav", "b.wav", "c.wav")
    upload(voice_app, "speech.wav", speech_wav())
    voice_app.toggle(key="adapt").set_value(True).run()
    assert [value for _, value in metrics(voice_app)] == [
        "Not sure",
        "35 %",
        ":material/sentiment_extremely_dissatisfied: Angry",
        "80 %",
    ]
    assert "Not sure — best guess: sad (35 %)." in main_text(voice_app)


def test_an_answer_that_was_not_adapted_says_why(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    reason = "too uniform: 90 % of the windows sound neutral (at most 70 % allowed)"
    stub_client.speaker_predict_fn = lambda audio, speaker: make_prediction(
        "happy", 0.62, speaker=speaker, adapted=False, adaptation_reason=reason
    )
    enrol(voice_app, "a.wav", "b.wav", "c.wav")
    upload(voice_app, "speech.wav", speech_wav())
    voice_app.toggle(key="adapt").set_value(True).run()
    assert not voice_app.exception
    assert stub_client.calls[-1] == "predict:speech.wav?speaker=spk-1"
    warning = voice_app.main.warning[0]  # first on the page (the licence, in About, is later)
    assert "Not adapted to your voice" in warning.value and reason in warning.value
    assert (
        dict(metrics(voice_app))["Detected emotion"] == ":material/sentiment_very_satisfied: Happy"
    )
    assert len(elements(voice_app, "vega_lite_chart")) == 1  # one answer, one chart


def test_a_profile_the_api_lost_is_forgotten_and_the_clip_analysed_plainly(
    voice_app: AppTest, stub_client: StubApiClient
) -> None:
    enrol(voice_app, "a.wav", "b.wav", "c.wav")
    upload(voice_app, "speech.wav", speech_wav())
    stub_client.speakers.clear()  # e.g. the service restarted without it
    voice_app.toggle(key="adapt").set_value(True).run()
    assert not voice_app.exception
    # The plain answer is the one already in hand: nothing more is asked of predict (the
    # key's remaining profiles are listed to pick from: none).
    assert stub_client.calls[-2:] == ["predict:speech.wav?speaker=spk-1", "list_speakers"]
    assert stub_client.calls.count("predict:speech.wav") == 1
    assert app_module.SPEAKER_ID_KEY not in voice_app.session_state
    assert "no longer on the analysis service" in sidebar_text(voice_app)
    assert "Unknown speaker profile 'spk-1'." in sidebar_text(voice_app)
    assert (
        dict(metrics(voice_app))["Detected emotion"] == ":material/sentiment_very_satisfied: Happy"
    )
    assert not voice_app.toggle


def test_the_usable_rule_is_told_in_words_with_the_one_mood_limit() -> None:
    rule = {"min_windows": 16, "max_dominant_share": 0.7}
    assert app_module.adaptation_rule(rule) == (
        " This model uses a profile once it holds at least 16 windows of speech and no more "
        "than 70 % of them sounding like one emotion."
    )
    told = app_module.adaptation_rule({**rule, "min_answer_entropy": 1.0})
    assert told.endswith(", no more than 70 % of them sounding like one emotion and clips "
                         "where you sound different (not one mood throughout).")  # fmt: skip
    assert app_module.adaptation_rule({**rule, "min_answer_entropy": 0.0}) == (
        app_module.adaptation_rule(rule)
    )
    assert app_module.adaptation_rule({}) == ""
