"""The Streamlit page's logic with the HTTP client stubbed (Streamlit's AppTest).

Only ``ApiClient.from_env`` is replaced (see ``stub_client``); the widgets, the session
caching and the charts all run for real.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.elements.lib.file_uploader_utils import normalize_upload_file_type
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from ser_contract.formats import AUDIO_EXTENSIONS, AUDIO_FORMATS, describe_formats
from ser_ui import batching, charts
from ser_ui import client as api
from tests.support.audio import harmonic_tone, wav_bytes
from tests.ui.conftest import (
    ADAPTATION,
    LABELS,
    StubApiClient,
    make_model_info,
    make_prediction,
    make_segment,
)

APP_PATH = Path(__file__).resolve().parents[2] / "services/ui/src/ser_ui/app.py"
RUN_TIMEOUT_S = 60  # s; generous, the machine is shared with training jobs


@pytest.fixture
def app(stub_client: StubApiClient) -> AppTest:
    """The page, run once (nothing uploaded yet)."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every file the page offers for download: bytes, mimetype and file name."""
    offered: list[dict[str, Any]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        offered.append({"data": path_or_data, "mimetype": mimetype, "filename": filename})
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return offered


def speech_wav(duration_s: float = 1.5, seed: int = 0) -> bytes:
    return wav_bytes(harmonic_tone(duration_s, seed=seed))


def walk(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def elements(at: AppTest, kind: str) -> list[Any]:
    """Every element of ``kind`` ("vega_lite_chart", "image", ...) on the page, in order."""
    return [node for node in walk(at.main) if getattr(node, "type", None) == kind]


def texts(at: AppTest) -> str:
    """All visible message text (markdown, alerts, captions, metrics) joined for searching."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [element.value for element in getattr(at, kind)]
    parts += [element.value for element in at.sidebar.error]
    parts += [element.value for element in at.sidebar.success]
    parts += [f"{metric.label}: {metric.value}" for metric in at.metric]
    return "\n".join(str(part) for part in parts)


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="single_file").set_value((name, content, "audio/wav"))
    return at.run()


# --------------------------------------------------------------------------------------
# One clip


def test_first_visit_invites_an_upload_and_shows_connection(
    app: AppTest, stub_client: StubApiClient
) -> None:
    assert "Upload a recording or record yourself" in app.info[0].value
    assert "Connected · model stub-1" in app.sidebar.success[0].value
    assert stub_client.calls == ["model_info"]


def test_uploaders_offer_and_name_exactly_the_accepted_formats(app: AppTest) -> None:
    # The uploaders (one clip, batch) filter by the contract's list and say it in its words;
    # a label that names formats must name them all (it once said "WAV, FLAC or OGG").
    # Streamlit adds its own spellings of some extensions (.mpeg4 for .mp4).
    expected = set(normalize_upload_file_type(sorted(AUDIO_EXTENSIONS)))
    # So does the enrolment uploader of Your voice (the sidebar).
    keys = ("single_file", "batch_files", "enrol_files")
    uploaders = {key: app.file_uploader(key=key) for key in keys}
    for key, uploader in uploaders.items():
        assert set(uploader.proto.type) == expected, key
        assert describe_formats() in uploader.help, key
        named = [f.name for f in AUDIO_FORMATS if f.name in uploader.label]
        assert not named or describe_formats() in uploader.label, (key, uploader.label)


def test_upload_shows_emotion_confidence_and_charts(
    app: AppTest, stub_client: StubApiClient
) -> None:
    stub_client.predict_fn = lambda audio: make_prediction("sad", 0.81)
    upload(app, "speech.wav", speech_wav())

    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Detected emotion"] == ":material/sentiment_sad: Sad"
    assert metrics["Confidence"] == "81 %"
    assert metrics["Clip"] == "1.5 s"
    assert not any("best guess" in w.value for w in app.warning)  # a sure answer
    # The rule it was named by, and how often such answers were right (the stub's /model).
    rule = "Named only at 70 % confidence or more: such answers were right 81 % of the time"
    assert any(caption.value.startswith(rule) for caption in app.caption)
    # Probability bars, coloured with the fixed per-emotion palette.
    (bar_chart,) = elements(app, "vega_lite_chart")
    spec = json.loads(bar_chart.proto.spec)
    assert charts.EMOTION_COLOURS["sad"] in json.dumps(spec)
    # The arousal-valence plane, then waveform and spectrogram drawn from the uploaded audio.
    assert len(elements(app, "image")) == 3
    assert "Arousal and valence" in texts(app)
    assert len(elements(app, "audio")) == 1  # playback
    assert stub_client.calls.count("predict:speech.wav") == 1


def test_result_is_not_requested_again_on_rerun(app: AppTest, stub_client: StubApiClient) -> None:
    upload(app, "speech.wav", speech_wav())
    app.run()
    app.run()
    assert stub_client.calls.count("predict:speech.wav") == 1


def test_an_uncertain_answer_says_not_sure_with_its_best_guess(
    app: AppTest, stub_client: StubApiClient
) -> None:
    stub_client.predict_fn = lambda audio: make_prediction("sad", 0.41, uncertain=True)
    upload(app, "speech.wav", speech_wav())
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Detected emotion"] == "Not sure"  # no confident emoji
    assert charts.emotion_icon("sad") not in metrics["Detected emotion"]
    assert metrics["Confidence"] == "41 %"
    (warning,) = [w.value for w in app.warning if "best guess" in w.value]
    assert "Not sure — best guess: sad (41 %)." in warning
    assert "Named only at 70 % confidence or more" in warning  # the rate, where the answer is
    assert "Arousal and valence" in texts(app)  # the plane is still drawn


def test_long_clip_shows_emotion_timeline(app: AppTest, stub_client: StubApiClient) -> None:
    segments = [
        make_segment(0.0, 3.0, "happy", 0.7),
        make_segment(1.5, 4.5, "angry", 0.6),
        make_segment(3.0, 6.0, None),
    ]
    stub_client.predict_fn = lambda audio: make_prediction(duration_s=6.0, segments=segments)
    upload(app, "long.wav", speech_wav(6.0))

    assert not app.exception
    assert "Emotion over time" in texts(app)
    assert "light grey marks silence" in texts(app)
    segment_table = app.dataframe[0].value
    assert list(segment_table["emotion"]) == ["happy", "angry", "silence"]


def test_recording_from_the_microphone_is_analysed(
    app: AppTest, stub_client: StubApiClient
) -> None:
    app.radio(key="source").set_value("Record with the microphone").run()
    app.audio_input(key="recording").set_value(("audio.wav", speech_wav(), "audio/wav"))
    app.run()
    assert not app.exception
    assert "predict:recording.wav" in stub_client.calls
    assert app.metric[0].value == ":material/sentiment_very_satisfied: Happy"


def test_result_downloads_as_json(
    app: AppTest, stub_client: StubApiClient, downloads: list[dict[str, Any]]
) -> None:
    upload(app, "speech.wav", speech_wav())
    (offered,) = [d for d in downloads if d["mimetype"] == "application/json"]
    assert offered["filename"] == "speech-emotion.json"
    result = json.loads(offered["data"])
    assert result["file"] == "speech.wav"
    assert result["emotion"] == "happy"
    assert set(result["probabilities"]) == set(LABELS)


# --------------------------------------------------------------------------------------
# Failures


def test_api_down_shows_friendly_message_and_retry_recovers(
    app: AppTest, stub_client: StubApiClient
) -> None:
    def down(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiUnavailableError("cannot reach the API at http://stub-api:8000 (refused)")

    stub_client.predict_fn = down
    upload(app, "speech.wav", speech_wav())
    assert not app.exception
    assert "not reachable right now" in app.error[0].value
    assert "refused" in texts(app)  # the technical reason is there for whoever debugs
    assert not app.metric

    stub_client.predict_fn = lambda audio: make_prediction("neutral", 0.9)
    app.button(key="retry").click().run()
    assert not app.exception
    assert app.metric[0].value == ":material/sentiment_neutral: Neutral"
    assert stub_client.calls.count("predict:speech.wav") == 2


def test_api_down_on_first_visit_marks_sidebar_and_can_recheck(
    monkeypatch: pytest.MonkeyPatch, stub_client: StubApiClient
) -> None:
    def down() -> api.ModelInfo:
        raise api.ApiUnavailableError("cannot reach the API")

    stub_client.model_info_fn = down
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert "Not connected" in at.sidebar.error[0].value
    # The About tab explains the same outage with its own retry.
    assert any("not reachable" in error.value for error in at.error)

    stub_client.model_info_fn = make_model_info
    at.sidebar.button(key="sidebar_retry").click().run()
    assert "Connected · model stub-1" in at.sidebar.success[0].value


def test_reconnecting_reanalyses_a_clip_that_met_the_outage(
    app: AppTest, stub_client: StubApiClient
) -> None:
    def down(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiUnavailableError("cannot reach the API")

    stub_client.predict_fn = down
    stub_client.model_info_fn = lambda: down(None)  # type: ignore[arg-type]
    app.session_state["ser_model_info"] = api.ApiUnavailableError("cannot reach the API")
    upload(app, "speech.wav", speech_wav())
    assert "Not connected" in app.sidebar.error[0].value

    stub_client.predict_fn = lambda audio: make_prediction("sad", 0.8)
    stub_client.model_info_fn = make_model_info
    app.sidebar.button(key="sidebar_retry").click().run()
    assert app.metric[0].value == ":material/sentiment_sad: Sad"
    assert stub_client.calls.count("predict:speech.wav") == 2


def test_slow_api_says_so(app: AppTest, stub_client: StubApiClient) -> None:
    def slow(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiTimeoutError("the API at http://stub-api:8000 did not answer within 60 s")

    stub_client.predict_fn = slow
    upload(app, "speech.wav", speech_wav())
    assert "taking too long" in app.warning[0].value
    assert app.button(key="retry").label == "Try again"


def test_rejected_file_shows_api_detail_verbatim(app: AppTest, stub_client: StubApiClient) -> None:
    detail = "The file could not be decoded as audio (WAV, FLAC or OGG expected): 'notes.wav'."

    def reject(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiRejectedError(detail, status_code=422, endpoint="POST /predict")

    stub_client.predict_fn = reject
    upload(app, "notes.wav", b"this is a text file, not audio")
    assert not app.exception
    message = app.error[0].value
    assert "could not analyse notes.wav" in message
    assert detail in message
    assert not elements(app, "image")  # nothing drawn for a rejected file


def test_server_error_and_protocol_error_are_explained(
    app: AppTest, stub_client: StubApiClient
) -> None:
    def broken(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiServerError("Internal Server Error", status_code=500)

    stub_client.predict_fn = broken
    upload(app, "a.wav", speech_wav(seed=1))
    assert "failed while working on a.wav" in app.error[0].value
    assert "HTTP 500" in app.error[0].value

    def garbled(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiProtocolError("response lacks field 'emotion'", endpoint="POST /predict")

    stub_client.predict_fn = garbled
    upload(app, "b.wav", speech_wav(seed=2))
    assert "does not understand" in app.error[0].value
    assert "lacks field 'emotion'" in texts(app)


def test_undrawable_audio_still_shows_the_api_result(
    app: AppTest, stub_client: StubApiClient
) -> None:
    # The API may accept what soundfile cannot draw (or the reverse); the result wins.
    upload(app, "odd.wav", b"RIFF....not really")
    assert app.metric[0].value == ":material/sentiment_very_satisfied: Happy"
    assert "cannot be drawn" in texts(app)


# --------------------------------------------------------------------------------------
# Batch


def batch_upload(at: AppTest, files: Sequence[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key="batch_files").set_value(
        [(name, content, "audio/wav") for name, content in files]
    )
    return at.run()


def test_batch_table_and_csv(
    app: AppTest, stub_client: StubApiClient, downloads: list[dict[str, Any]]
) -> None:
    emotions = {"a.wav": "happy", "c.wav": "angry"}

    def batch(audios: Sequence[api.AudioFile]) -> list[api.BatchItem]:
        items = []
        for audio in audios:
            if audio.name == "b.wav":
                error = api.ApiRejectedError("Audio is silent.", status_code=422)
                items.append(api.BatchItem(filename=audio.name, error=error))
            else:
                prediction = make_prediction(emotions[audio.name], 0.7)
                items.append(api.BatchItem(filename=audio.name, prediction=prediction))
        return items

    stub_client.batch_fn = batch
    files = [(name, speech_wav(seed=seed)) for seed, name in enumerate(["a.wav", "b.wav", "c.wav"])]
    batch_upload(app, files)
    run_button = app.button(key="batch_run")
    assert run_button.label == "Analyse 3 files"
    assert not any(call.startswith("batch:") for call in stub_client.calls)  # waits for the click
    run_button.click().run()

    assert not app.exception
    assert stub_client.calls.count("batch:a.wav,b.wav,c.wav") == 1
    table = app.dataframe[0].value
    assert list(table["file"]) == ["a.wav", "b.wav", "c.wav"]
    assert list(table["status"]) == ["ok", "rejected", "ok"]
    assert table.loc[1, "error"] == "Audio is silent."
    counts = {metric.label: metric.value for metric in app.metric}
    assert counts == {"Analysed": "2", "Not sure": "0", "Rejected": "1"}

    (csv_download,) = [d for d in downloads if d["mimetype"] == "text/csv"]
    assert csv_download["filename"] == "emotion-results.csv"
    csv = pd.read_csv(io.BytesIO(csv_download["data"]))
    assert list(csv["emotion"].fillna("")) == ["happy", "", "angry"]
    assert [f"p_{label}" for label in LABELS] == [c for c in csv.columns if c.startswith("p_")]
    assert {"uncertain", "arousal", "valence"} <= set(csv.columns)
    assert csv.loc[0, "arousal"] == pytest.approx(make_prediction("happy", 0.7).arousal, abs=1e-4)

    # Results survive reruns (e.g. the download click) without another request.
    app.run()
    assert list(app.dataframe[0].value["file"]) == ["a.wav", "b.wav", "c.wav"]
    assert sum(call.startswith("batch:") for call in stub_client.calls) == 1


def test_batch_chunk_refused_as_a_whole_is_retried_file_by_file(
    app: AppTest, stub_client: StubApiClient
) -> None:
    def batch(audios: Sequence[api.AudioFile]) -> list[api.BatchItem]:
        if any(audio.name == "d.wav" for audio in audios):
            detail = "Request body too large." if len(audios) > 1 else "d.wav is too large."
            raise api.ApiRejectedError(detail, status_code=413)
        return [api.BatchItem(audio.name, make_prediction()) for audio in audios]

    stub_client.batch_fn = batch
    names = ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"]
    batch_upload(app, [(name, speech_wav(seed=i)) for i, name in enumerate(names)])
    app.button(key="batch_run").click().run()

    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["file"]) == names
    assert list(table["status"]) == ["ok", "ok", "ok", "rejected", "ok"]
    assert table.loc[3, "error"] == "d.wav is too large."


def test_chunks_bound_files_and_bytes_per_request() -> None:
    sizes = [10] * 7 + [150, 60, 60]  # bytes
    audios = [api.AudioFile(f"{i}.wav", b"x" * size) for i, size in enumerate(sizes)]
    chunks = batching.chunks(audios, max_files=3, max_bytes=100)
    assert [[audio.name for audio in chunk] for chunk in chunks] == [
        ["0.wav", "1.wav", "2.wav"],
        ["3.wav", "4.wav", "5.wav"],
        ["6.wav"],
        ["7.wav"],  # alone: larger than the byte budget by itself
        ["8.wav"],
        ["9.wav"],
    ]
    assert sum(len(chunk) for chunk in chunks) == len(audios)


def test_batch_requests_respect_the_api_limits() -> None:
    from ser_ui import app as app_module

    info = make_model_info()
    info.limits = info.limits.model_copy(
        update={"max_batch_files": 4, "max_upload_bytes": 10_000_000}
    )
    assert batching.request_limits(info.limits) == (4, 9_000_000)
    unlimited = batching.request_limits(None)
    assert unlimited == (batching.BATCH_CHUNK_FILES, batching.BATCH_CHUNK_MAX_BYTES)
    assert app_module.upload_limit_mb(info.limits) == 9
    assert app_module.upload_limit_mb(None) is None
    assert app_module.limits_hint(make_model_info().limits) == "Up to 10 min and 128 MiB per file."


def test_batch_with_api_down_offers_try_again(app: AppTest, stub_client: StubApiClient) -> None:
    def down(audios: Sequence[api.AudioFile]) -> list[api.BatchItem]:
        raise api.ApiUnavailableError("cannot reach the API")

    stub_client.batch_fn = down
    batch_upload(app, [("a.wav", speech_wav()), ("b.wav", speech_wav(seed=1))])
    app.button(key="batch_run").click().run()
    assert any("not reachable" in error.value for error in app.error)
    assert app.button(key="batch_retry").label == "Try again"

    stub_client.batch_fn = None
    app.button(key="batch_retry").click().run()
    assert list(app.dataframe[0].value["status"]) == ["ok", "ok"]


# --------------------------------------------------------------------------------------
# About the model


def test_about_panel_shows_labels_protocol_metrics_data_and_licence(app: AppTest) -> None:
    page = texts(app)
    assert "Model stub-1" in [header.value for header in app.subheader]
    for label in LABELS:
        assert label in page
    assert "speaker-independent test split: 4 held-out speakers per corpus" in page
    assert "non-commercial use only" in page
    tables_shown = [frame.value for frame in app.dataframe]
    summary = next(t for t in tables_shown if "evaluation" in t.columns)
    assert summary.loc[0, "evaluation"] == "test"
    assert summary.loc[0, "accuracy"] == pytest.approx(0.71)
    corpora = next(t for t in tables_shown if "name" in t.columns)
    assert list(corpora["name"]) == ["RAVDESS"]


def test_about_panel_explains_the_three_answers_with_their_measured_figures(app: AppTest) -> None:
    page = texts(app)
    assert "What the answers mean" in page
    # Threshold (0.705), accuracy and coverage above it, arousal and valence-sign accuracy,
    # and the calibration error before/after: all read from the stub's GET /model.
    for figure in ("below 70 %", "right on 81 %", "39 % of the test", "right on 84 %",
                   "negative valence on 85 %", "7 % on average", "14 % before"):  # fmt: skip
        assert figure in page, figure


def test_about_panel_starts_with_a_plain_summary_of_the_measured_figures(
    stub_client: StubApiClient,
) -> None:
    """What the model is good and bad at comes first, in words and numbers from GET /model;
    the expert figures follow behind an expander."""
    info = make_model_info(adaptation={**ADAPTATION, "metrics": {
        "held_out:nemo": {"plain": 33.1, "domain:neutral_60_100": 42.2},
        "held_out:turev": {"plain": 27.5, "domain:random_100": 33.1},
        "trained:emodb": {"plain": 83.2, "domain:neutral_60_100": 86.3},
        # The plain head trained on EMO-DB: its plain figure is memory, the row is left out.
        "held_out:emodb": {"plain": 93.5, "domain:neutral_60_100": 65.4},
    }})  # fmt: skip
    info.training_data = {"corpora": ["emodb", "ravdess", "tess"]}
    info.metrics |= {
        "held_out_speakers": {"all": {"accuracy": 0.671}},
        "leave_one_corpus_out": {"emodb": {"accuracy": 0.416}, "ravdess": {"accuracy": 0.477}},
    }
    stub_client.model_info_fn = lambda: info
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception
    summary = next(box.value for box in at.info if box.value.startswith("**In short.**"))
    for figure in ("**67 %**", "guessing: 14 %", "**42–48 %**", "On 2 corpora it never trained "
                   "on", "from 28–33 % to **33–42 %**", "right 81 %", "covered 39 %"):  # fmt: skip
        assert figure in summary, figure
    assert "temperature" not in summary
    assert any(e.label.startswith("Details for experts") for e in at.expander)


def test_the_plain_summary_leaves_out_what_is_not_measured() -> None:
    from ser_ui import app as app_module

    info = make_model_info()
    info.metrics = {}
    assert "reports no evaluation figures" in app_module.plain_summary(info)
    info.metrics = {"held_out_speakers": {"all": {"accuracy": 0.5}}}
    text = app_module.plain_summary(info)
    assert "**50 %**" in text and "unlike its training data" not in text


def test_about_panel_without_calibration_figures_says_not_measured(
    stub_client: StubApiClient,
) -> None:
    info = make_model_info()
    info.metrics = {"protocol": "none", "calibration": "not a table"}
    info.calibration.calibrated = False
    stub_client.model_info_fn = lambda: info
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception
    page = texts(at)
    assert "no calibration" in page
    assert page.count("Not measured for this model.") == 2 and "right on" not in page
    assert "is *calibrated*" not in page  # an uncalibrated model is not said to be
    info.calibration.uncertain_below = 0.0
    at = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    page = texts(at)
    assert "always names an emotion" in page and "below 0 %" not in page


def test_busy_api_shows_busy_not_failure(app: AppTest, stub_client: StubApiClient) -> None:
    def busy(audio: api.AudioFile) -> api.Prediction:
        raise api.ApiBusyError("the service is busy", status_code=503, endpoint="POST /predict")

    stub_client.predict_fn = busy
    upload(app, "speech.wav", speech_wav())
    assert not app.exception
    assert not app.error
    assert "busy" in app.warning[0].value
