"""The speech-emotion web page: upload or record speech, see the emotion.

Run with ``streamlit run services/ui/src/ser_ui/app.py`` (``make run`` starts it next to
the API). Every prediction comes from the API at ``SER_API_URL`` through
:class:`ser_ui.client.ApiClient`; this module only lays out widgets and results.

Streamlit reruns this script top to bottom on every interaction, so API answers are kept
in ``st.session_state`` keyed by a digest of the audio: clicking a download button or
switching tabs never sends the same file again. The figures are drawn once per clip through
``st.cache_data``. How a batch is split into requests lives in :mod:`ser_ui.batching`.

Speaker adaptation (issue 24): the sidebar's "Your voice" step enrols clips of the person's
own voice as a profile on the API (``POST /speakers``); only the profile's id and its last
known statistics are kept here, in ``st.session_state``. With a usable profile the clip view
offers "Adapt to my voice" and shows the adapted and the plain answer side by side.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components
from matplotlib.figure import Figure
from streamlit.delta_generator import DeltaGenerator

from ser_contract import ServiceLimits
from ser_contract.formats import AUDIO_EXTENSIONS, AUDIO_MEDIA_TYPES, describe_formats
from ser_ui import batching, charts, live, tables
from ser_ui import client as api
from ser_ui.display_audio import DisplayAudioError, decode_audio, pauses

PAGE_TITLE = "Speech emotion recognition"
# What the API decodes (libsndfile, or FFmpeg for M4A/WebM/video); the uploaders offer these
# and say so in words from the same list (ser_contract.formats), never a hand-written subset.
AUDIO_TYPES = sorted(suffix.lstrip(".") for suffix in AUDIO_EXTENSIONS)
ACCEPTED_FORMATS = f"Accepted: {describe_formats()}."
SOURCE_UPLOAD = "Upload a file"
SOURCE_RECORD = "Record with the microphone"
RECORDING_NAME = "recording.wav"  # st.audio_input always yields one WAV file
MIB = batching.MIB
MAX_REMEMBERED_PREDICTIONS = 32  # per browser session; older answers are recomputed
MAX_CACHED_FIGURES = 4  # clips whose PNGs st.cache_data keeps (a few MB each)

# st.session_state keys (prefixed so they cannot collide with widget keys).
PREDICTIONS_KEY = "ser_predictions"
MODEL_INFO_KEY = "ser_model_info"
LIMITS_KEY = "ser_limits"
BATCH_KEY = "ser_batch"
BATCH_RETRY_KEY = "ser_batch_retry"
SPEAKER_ID_KEY = "ser_speaker_id"  # the enrolled profile's id (profiles live on the API)
SPEAKER_KEY = "ser_speaker"  # its last known statistics; absent: ask GET /speakers/{id}
STORED_SPEAKERS_KEY = "ser_stored_speakers"  # GET /speakers, once per session without a profile
ENROLLED_KEY = "ser_enrolled_clips"  # digests of the clips in the profile: never sent twice
# The last enrolment action's failure, with the digests of the clips it left out (None:
# it was about the profile itself).
VOICE_ERROR_KEY = "ser_voice_error"
VOICE_NOTICE_KEY = "ser_voice_notice"  # one-off news about the profile, shown once
# Domain profiles (issue 30): the key's profiles as GET /domains last listed them (None: ask
# again), the one answers are adapted to, and one-off news / the last failure.
DOMAINS_KEY = "ser_domains"
DOMAIN_ID_KEY = "ser_domain_id"
PLACE_NOTICE_KEY = "ser_place_notice"
PLACE_ERROR_KEY = "ser_place_error"
DOMAIN_CHOICE = "domain_choice"  # the "Adapt answers to" selectbox
CHOICE_CHANGED_KEY = "ser_domain_choice_changed"  # the list changed: set the selectbox anew
PROFILED_KEY = "ser_profiled_recordings"  # digest of the files of the last profile made
NO_DOMAIN = "No: answer every clip on its own"

HONEST_NOTE = (
    "The model hears *how* something is said, not *what* is said. It was trained on acted "
    "emotional speech, so spontaneous speech, other languages, noisy rooms and poor "
    "microphones make it less reliable. Treat the result as a probability, not a fact "
    "about a person's feelings."
)
ADAPTED_CAPTION = (
    "The adapted answer uses the voice profile you enrolled: the model reads this clip "
    "against how you usually sound. The plain answer is what it says for any speaker."
)
DOMAIN_CAPTION = (
    "The adapted answer uses the profile of your recordings: the model reads this clip "
    "against how recordings from your setting usually sound. The plain answer is what it "
    "says for any recording."
)
NO_ADAPTATION_NOTE = (
    "This model cannot adapt to a speaker's voice (it has no speaker-adapted head), so "
    "enrolment is off."
)


@dataclass(frozen=True)
class BatchRun:
    """The outcome of pressing "Analyse" for one set of uploaded files."""

    key: str  # digest of the files' names and bytes
    items: tuple[api.BatchItem, ...] = ()
    error: api.ApiError | None = None


# --------------------------------------------------------------------------------------
# Session state helpers


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


def _predictions() -> dict[str, api.Prediction | api.ApiError]:
    return st.session_state.setdefault(PREDICTIONS_KEY, {})


def _forget_prediction(key: str) -> None:
    _predictions().pop(key, None)


def _forget_model_info() -> None:
    st.session_state.pop(MODEL_INFO_KEY, None)


def _retry_batch() -> None:
    st.session_state[BATCH_RETRY_KEY] = True


def _forget_speaker(notice: str | None = None) -> None:
    """Drop the profile from this browser session (the API's copy is not touched)."""
    for key in (SPEAKER_ID_KEY, SPEAKER_KEY, ENROLLED_KEY, VOICE_ERROR_KEY, STORED_SPEAKERS_KEY):
        st.session_state.pop(key, None)
    if notice is not None:
        st.session_state[VOICE_NOTICE_KEY] = notice


def _remember_speaker(speaker: api.Speaker, clips: Sequence[api.AudioFile]) -> None:
    st.session_state[SPEAKER_ID_KEY] = speaker.speaker
    st.session_state[SPEAKER_KEY] = speaker
    enrolled = st.session_state.setdefault(ENROLLED_KEY, set())
    enrolled.update(_clip_digest(clip) for clip in clips)


def _clip_digest(clip: api.AudioFile) -> str:
    return _digest(clip.content)  # the bytes only: the same clip under another name is no news


def _speaker() -> api.Speaker | None:
    """The profile as last seen (``None``: none enrolled, or it must be asked for again)."""
    return st.session_state.get(SPEAKER_KEY)


def _model_info(client: api.ApiClient) -> api.ModelInfo | api.ApiError:
    """``GET /model``, asked once per browser session (and again after "Check again")."""
    if MODEL_INFO_KEY not in st.session_state:
        try:
            st.session_state[MODEL_INFO_KEY] = client.model_info()
        except api.ApiError as error:
            st.session_state[MODEL_INFO_KEY] = error
        else:
            # The API answers again: outcomes that only said "unreachable" are stale.
            # (Timeouts are kept: resending a clip that was too slow would just be slow.)
            predictions = _predictions()
            for key in [
                k for k, v in predictions.items() if isinstance(v, api.ApiUnavailableError)
            ]:
                del predictions[key]
    return st.session_state[MODEL_INFO_KEY]


@dataclass(frozen=True)
class ClipFigures:
    """One clip's charts, rendered once to PNG.

    A 10-minute upload decodes to ~100 MB of samples and takes a second or two to draw;
    caching only the PNGs makes reruns instant and the cache small.
    """

    waveform_png: bytes | None  # None when the browser-side decoder cannot read the file
    spectrogram_png: bytes | None
    plane_png: bytes  # the arousal-valence plane: needs only the API's answer
    has_timeline: bool
    audio_error: str | None = None  # why the waveform cannot be drawn


def _figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@st.cache_data(max_entries=MAX_CACHED_FIGURES, show_spinner=False)
def clip_figures(key: str, _content: bytes, _prediction: api.Prediction) -> ClipFigures:
    """Waveform (+ timeline when there are several windows), spectrogram and the
    arousal-valence plane of a clip; cached by ``key``, a digest of the clip and its answer
    (the arguments starting with "_" are not hashed: ``key`` stands for them)."""
    plane_png = _figure_png(charts.affect_plane_figure(_prediction))
    try:
        audio = decode_audio(_content)
    except DisplayAudioError as error:
        return ClipFigures(None, None, plane_png, has_timeline=False, audio_error=str(error))
    timeline = None
    if len(_prediction.segments) > 1:
        timeline = charts.with_pauses(
            charts.timeline_frame(_prediction.segments, _prediction.duration_s), pauses(audio)
        )
    return ClipFigures(
        waveform_png=_figure_png(charts.waveform_figure(audio, timeline)),
        spectrogram_png=_figure_png(charts.spectrogram_figure(audio)),
        plane_png=plane_png,
        has_timeline=timeline is not None,
    )


# --------------------------------------------------------------------------------------
# Messages


def show_api_error(
    error: api.ApiError,
    *,
    subject: str,
    retry: Callable[[], None] | None = None,
    retry_key: str = "retry",
) -> None:
    """Explain a failed API call in words a person can act on, with a retry button.

    Parameters
    ----------
    error
        What the client raised.
    subject
        What was being done, e.g. ``"speech.wav"``; used in the message.
    retry
        Called when the person presses "Try again" (before the rerun); ``None`` hides it.
    retry_key
        Streamlit widget key of the retry button, unique on the page.
    """
    if isinstance(error, api.ApiRejectedError):
        st.error(
            f"**The service could not analyse {subject}.**\n\n{error.detail}",
            icon=":material/block:",
        )
    elif isinstance(error, api.ApiUnavailableError):
        st.error(
            "**The analysis service is not reachable right now.** It may be starting up or "
            "stopped. Please try again in a moment.",
            icon=":material/cloud_off:",
        )
        st.caption(f"Details: {error.detail}")
    elif isinstance(error, api.ApiTimeoutError | api.ApiBusyError):
        # Both mean "wait and retry", not "broken": a warning, not an error.
        st.warning(
            "**The analysis service is busy** with other people's recordings and asked us to "
            "come back later; it still was after several tries. Please try again in a minute."
            if isinstance(error, api.ApiBusyError)
            else "**The analysis service is taking too long to answer.** It may be busy with "
            "other requests; trying again in a moment usually works. Shorter clips are faster.",
            icon=":material/hourglass_top:",
        )
        st.caption(f"Details: {error.detail}")
    elif isinstance(error, api.ApiServerError):
        st.error(
            f"**The analysis service failed while working on {subject}** "
            f"(HTTP {error.status_code}). Trying again may help.\n\n{error.detail}",
            icon=":material/error:",
        )
    else:  # ApiProtocolError or a future subclass
        st.error(
            "**The analysis service answered in a way this page does not understand.** The "
            "web app and the API may be different versions.",
            icon=":material/sync_problem:",
        )
        st.caption(f"Details: {error}")
    if retry is not None:
        st.button("Try again", key=retry_key, on_click=retry, icon=":material/refresh:")


# --------------------------------------------------------------------------------------
# One clip


@contextmanager
def busy_notice(client: api.ApiClient) -> Iterator[None]:
    """While the block runs, a 503 from the API shows "busy, retrying" instead of nothing."""
    notice = st.empty()

    def show(wait_s: float, attempt: int) -> None:
        notice.info(
            f"The analysis service is busy, retrying in {wait_s:.0f} s "
            f"(try {attempt + 1} of {api.MAX_BUSY_ATTEMPTS})…",
            icon=":material/hourglass_top:",
        )

    client.on_busy = show
    try:
        yield
    finally:
        client.on_busy = None
        notice.empty()


def service_limits(info: api.ModelInfo | api.ApiError) -> ServiceLimits | None:
    """The API's limits, or the last ones it stated during an outage.

    The uploaders' limits and help text are part of their widget identity: if they changed
    when the API went away, Streamlit would drop the file the person had just chosen.
    """
    if isinstance(info, api.ModelInfo):
        st.session_state[LIMITS_KEY] = info.limits
    return st.session_state.get(LIMITS_KEY)


def limits_hint(limits: ServiceLimits | None) -> str | None:
    """ "Up to 10 min and 128 MiB per file." from the API's limits, when known."""
    if limits is None:
        return None
    minutes = limits.max_duration_s / 60
    duration = f"{minutes:g} min" if minutes >= 1 else f"{limits.max_duration_s:g} s"
    return f"Up to {duration} and {limits.max_upload_bytes / MIB:.0f} MiB per file."


def upload_limit_mb(limits: ServiceLimits | None) -> int | None:
    """The API's upload limit in whole MiB for ``st.file_uploader`` (``None``: unknown).

    The browser then refuses a too-large file at once, instead of after a long upload.
    """
    return None if limits is None else max(1, limits.max_upload_bytes // MIB)


def adapt_toggle(info: api.ModelInfo | api.ApiError) -> api.Speaker | None:
    """The "Adapt to my voice" switch, when a profile is enrolled and the model can adapt;
    the profile to adapt to when it is on (and usable), else ``None``."""
    speaker = _speaker()
    if speaker is None or not isinstance(info, api.ModelInfo) or info.adaptation is None:
        return None
    on = st.toggle(
        "Adapt to my voice",
        key="adapt",
        disabled=not speaker.usable,
        help="Compare the model's answer adapted to your enrolled voice profile with its "
        "plain answer."
        if speaker.usable
        else f"Your voice profile is not used yet: {speaker.reason or 'see Your voice'}.",
    )
    return speaker if on and speaker.usable else None


def render_single(client: api.ApiClient, info: api.ModelInfo | api.ApiError) -> None:
    """Upload or record one clip, send it to ``POST /predict``, show the result."""
    limits = service_limits(info)
    speaker = adapt_toggle(info)
    source = st.radio(
        "Audio source",
        [SOURCE_UPLOAD, SOURCE_RECORD],
        horizontal=True,
        key="source",
        label_visibility="collapsed",
    )
    if source == SOURCE_UPLOAD:
        uploaded = st.file_uploader(
            "Speech recording (audio or video file)",
            type=AUDIO_TYPES,
            key="single_file",
            max_upload_size=upload_limit_mb(limits),
            help=f"{ACCEPTED_FORMATS} A few seconds of one person speaking works best. Longer "
            "recordings get an emotion timeline. " + (limits_hint(limits) or ""),
        )
    else:
        uploaded = st.audio_input(
            "Record a few seconds of speech",
            key="recording",
            help="Your browser asks for microphone access. The recording is sent only to "
            "the analysis service.",
        )
    if uploaded is None:
        st.info(
            "Upload a recording or record yourself to see which emotion it sounds like.",
            icon=":material/upload_file:",
        )
        return

    content = uploaded.getvalue()
    name = uploaded.name if source == SOURCE_UPLOAD else RECORDING_NAME
    if source == SOURCE_UPLOAD:
        # The recorder draws its own player; an uploaded file needs one.
        suffix = PurePath(name).suffix.lower()
        st.audio(content, format=AUDIO_MEDIA_TYPES.get(suffix, "audio/wav"))
    key = _digest(name.encode(), content)
    if speaker is not None:
        # Each version of the profile gives its own answer (more clips, new statistics).
        key = _digest(key.encode(), speaker.speaker.encode(), speaker.updated_at.encode())
    domain = _chosen_domain()
    if domain is not None:
        key = _digest(key.encode(), domain.domain.encode(), domain.updated_at.encode())
    predictions = _predictions()
    outcome = predictions.get(key)
    if outcome is None:
        with st.spinner(f"Analysing {name}…", show_time=True), busy_notice(client):
            try:
                outcome = client.predict(
                    api.AudioFile(name, content),
                    speaker=None if speaker is None else speaker.speaker,
                    domain=None if domain is None else domain.domain,
                )
            except api.ApiError as error:
                outcome = error
        if (
            domain is not None
            and isinstance(outcome, api.ApiRejectedError)
            and outcome.status_code == 404
            and "domain profile" in outcome.detail
        ):
            _forget_domains(
                "The recordings' profile you chose is no longer on the analysis service, so "
                f"the clip was analysed without it. ({outcome.detail})"
            )
            st.rerun()
        if (
            speaker is not None
            and isinstance(outcome, api.ApiRejectedError)
            and outcome.status_code == 404
        ):
            # The API no longer has the profile (deleted elsewhere, or the service restarted
            # without it): say so in Your voice and show the plain answer instead.
            _forget_speaker(
                "Your voice profile is no longer on the analysis service, so the clip was "
                f"analysed without it. Enrol again to adapt answers. ({outcome.detail})"
            )
            st.rerun()
        while len(predictions) >= MAX_REMEMBERED_PREDICTIONS:
            predictions.pop(next(iter(predictions)))
        predictions[key] = outcome
        if isinstance(outcome, api.Prediction) and isinstance(
            st.session_state.get(MODEL_INFO_KEY), api.ApiError
        ):
            _forget_model_info()  # the API is evidently back: let the sidebar recover
    if isinstance(outcome, api.ApiError):
        show_api_error(outcome, subject=name, retry=lambda: _forget_prediction(key))
        return
    render_prediction(outcome, name=name, audio_key=key, content=content)


def render_prediction(
    prediction: api.Prediction, *, name: str, audio_key: str, content: bytes
) -> None:
    """The result of one clip: headline (or "not sure"), probabilities, the arousal-valence
    plane, waveform/timeline, spectrogram. An answer adapted to the person's voice is shown
    beside the plain one."""
    compared = prediction.adapted and prediction.plain is not None
    if compared:
        render_comparison(prediction)
    else:
        if (prediction.speaker is not None or prediction.domain is not None) and not (
            prediction.adapted
        ):
            reason = prediction.adaptation_reason or "the service did not say why"
            what = "your voice" if prediction.domain is None else "your profiles"
            st.warning(
                f"**Not adapted to {what}:** {reason}. The answer below is the plain model's.",
                icon=":material/record_voice_over:",
            )
        render_headline(prediction)

    with st.spinner("Drawing the charts…"):
        # The answer is part of the key: the same clip may come back different (new model).
        figures_key = _digest(audio_key.encode(), prediction.model_dump_json().encode())
        figures = clip_figures(figures_key, content, prediction)
    bars_col, wave_col = st.columns([2, 3], gap="large")
    with bars_col:
        if not compared:  # the comparison above has both answers' bars
            st.markdown("**All emotions**")
            # The height is passed too: Streamlit otherwise squeezes short charts.
            st.altair_chart(
                charts.probability_chart(prediction.probabilities),
                width="stretch",
                height=charts.bar_chart_height(len(prediction.probabilities)),
            )
        st.markdown("**Arousal and valence**")
        st.image(figures.plane_png, width="stretch")
        st.caption(
            f"Arousal {100 * prediction.arousal:.0f} % (how activated), valence "
            f"{prediction.valence:+.2f} (−1 negative … +1 positive). The big dot is the "
            "whole clip, the faint trail its windows in time order."
        )
    with wave_col:
        if figures.waveform_png is None:
            st.info(
                f"The waveform cannot be drawn for this file ({figures.audio_error}).",
                icon=":material/info:",
            )
        else:
            st.markdown("**Emotion over time**" if figures.has_timeline else "**Waveform**")
            st.image(figures.waveform_png, width="stretch")
            if figures.has_timeline:
                st.caption(
                    "Each colour is the emotion of the nearest analysis window; light grey "
                    "marks silence, which is not classified."
                )
            # Same column, same figure width, no expander padding: the time axes line up.
            st.markdown("**Spectrogram**")
            st.image(figures.spectrogram_png, width="stretch")

    with st.expander("Details and downloads"):
        if prediction.segments:
            st.dataframe(
                tables.segments_frame(prediction),
                hide_index=True,
                column_config={
                    "start_s": st.column_config.NumberColumn("start (s)", format="%.2f"),
                    "end_s": st.column_config.NumberColumn("end (s)", format="%.2f"),
                    "confidence": st.column_config.ProgressColumn(
                        "confidence", min_value=0.0, max_value=1.0, format="percent"
                    ),
                },
            )
        stem = PurePath(name).stem or "clip"
        st.download_button(
            "Download result (JSON)",
            data=json.dumps(_prediction_json(prediction, name), indent=2),
            file_name=f"{stem}-emotion.json",
            mime="application/json",
            on_click="ignore",
            icon=":material/download:",
        )


def render_headline(prediction: api.Prediction) -> None:
    """Emotion (or "Not sure"), confidence and clip length, with the best guess when unsure."""
    headline, confidence_col, clip_col = st.columns(3)
    headline.metric("Detected emotion", emotion_text(prediction))
    confidence_col.metric(
        "Confidence",
        f"{100 * prediction.confidence:.0f} %",
        help="The model's calibrated probability for this emotion over the whole clip: "
        "adjusted on held-out speakers so that it tracks how often such answers are right "
        "(see About the model for the measured figures).",
    )
    clip_col.metric(
        "Clip",
        f"{prediction.duration_s:.1f} s",
        help=f"{prediction.sample_rate} Hz · model {prediction.model_version}",
    )
    rule = sure_rule_text(st.session_state.get(MODEL_INFO_KEY), adapted=prediction.adapted)
    if prediction.uncertain:
        st.warning(
            f"{uncertain_text(prediction)} The model is too unsure to name an emotion for "
            f"this clip; the bars show what it weighed. {rule}",
            icon=":material/help:",
        )
    elif rule:
        st.caption(rule)


def emotion_text(answer: api.Prediction | api.Plain) -> str:
    """ ":material/sentiment_sad: Sad" (Streamlit draws the icon), or "Not sure" (no icon: a
    face would read as a verdict not given)."""
    if answer.uncertain:
        return "Not sure"
    return f"{charts.emotion_icon(answer.emotion)} {answer.emotion.capitalize()}"


def render_comparison(prediction: api.Prediction) -> None:
    """The answer adapted to the enrolled voice beside the plain model's, each with its
    emotion, confidence and probability bars."""
    assert prediction.plain is not None  # only called for adapted answers
    adapted_col, plain_col = st.columns(2, gap="large")
    adapted_to = {
        "domain": "your recordings",
        "speaker+domain": "your voice and recordings",
    }.get(prediction.adaptation or "", "your voice")
    for column, title, answer in (
        (adapted_col, f"Adapted to {adapted_to}", prediction),
        (plain_col, "Plain model", prediction.plain),
    ):
        with column:
            st.markdown(f"**{title}**")
            emotion_col, confidence_col = st.columns(2)
            emotion_col.metric("Emotion", emotion_text(answer))
            confidence_col.metric("Confidence", f"{100 * answer.confidence:.0f} %")
            rule = sure_rule_text(st.session_state.get(MODEL_INFO_KEY), answer is prediction)
            if answer.uncertain:
                st.caption(f"{uncertain_text(answer)} Too unsure to name an emotion. {rule}")
            elif rule:
                st.caption(rule)
            st.altair_chart(
                charts.probability_chart(answer.probabilities),
                width="stretch",
                height=charts.bar_chart_height(len(answer.probabilities)),
            )
    caption = ADAPTED_CAPTION if prediction.adaptation != "domain" else DOMAIN_CAPTION
    if prediction.adaptation_reason:
        caption += f" ({prediction.adaptation_reason}.)"
    st.caption(
        f"{caption} Clip {prediction.duration_s:.1f} s · {prediction.sample_rate} Hz "
        f"· model {prediction.model_version}."
    )


def sure_rule_text(info: Any, adapted: bool) -> str:
    """Beside an answer: the confidence at which this head names an emotion and, for the
    plain head, how often such answers were right on new voices (GET /model); empty when the
    model does not say (no model info, or no threshold)."""
    if not isinstance(info, api.ModelInfo):
        return ""
    if adapted:
        threshold, right = (info.adaptation or {}).get("uncertain_below"), None
    else:
        threshold = info.calibration.uncertain_below if info.calibration.calibrated else None
        measured = _section(_section(_section(info.metrics, "calibration"), "test_speakers"),
                            "at_threshold")  # fmt: skip
        right = measured.get("accuracy")
    if not _measured(threshold) or threshold <= 0:
        return ""
    text = f"Named only at {_percent(threshold)} confidence or more"
    if _measured(right):
        text += (
            f": such answers were right {_percent(right)} of the time on new voices, less "
            "often on recordings unlike its training data"
        )
    return text + "."


def uncertain_text(answer: api.Prediction | api.Plain) -> str:
    """ "Not sure — best guess: sad (41 %)." """
    return f"Not sure — best guess: {answer.emotion} ({100 * answer.confidence:.0f} %)."


def _prediction_json(prediction: api.Prediction, name: str) -> dict[str, Any]:
    return {"file": name, **prediction.model_dump(mode="json")}


# --------------------------------------------------------------------------------------
# Batch


def run_batch(
    client: api.ApiClient,
    audios: Sequence[api.AudioFile],
    key: str,
    limits: tuple[int, int] = (batching.BATCH_CHUNK_FILES, batching.BATCH_CHUNK_MAX_BYTES),
) -> BatchRun:
    """:func:`ser_ui.batching.analyse` with a progress bar; an API outage stops the run
    with its error."""
    progress = st.progress(0.0, text=f"Analysed 0 of {len(audios)} files")

    def moved(done: int) -> None:
        progress.progress(done / len(audios), text=f"Analysed {done} of {len(audios)} files")

    try:
        with busy_notice(client):
            items = batching.analyse(client, audios, limits, moved)
    except api.ApiError as error:
        return BatchRun(key=key, error=error)
    finally:
        progress.empty()
    return BatchRun(key=key, items=tuple(items))


def render_batch(client: api.ApiClient, info: api.ModelInfo | api.ApiError) -> None:
    """Several files at once: a table of results, a summary chart and a CSV download."""
    labels = info.labels if isinstance(info, api.ModelInfo) else ()
    uploaded = st.file_uploader(
        "Speech recordings (audio or video files)",
        type=AUDIO_TYPES,
        accept_multiple_files=True,
        key="batch_files",
        max_upload_size=upload_limit_mb(service_limits(info)),
        help=" ".join(filter(None, [ACCEPTED_FORMATS, limits_hint(service_limits(info))])),
    )
    if not uploaded:
        st.info(
            "Add several recordings to analyse them together and download a CSV.",
            icon=":material/library_music:",
        )
        return
    audios = [api.AudioFile(file.name, file.getvalue()) for file in uploaded]
    key = _digest(*(part for audio in audios for part in (audio.name.encode(), audio.content)))
    previous: BatchRun | None = st.session_state.get(BATCH_KEY)
    current = previous if previous is not None and previous.key == key else None

    count = f"{len(audios)} file{'s' if len(audios) != 1 else ''}"
    pressed = st.button(
        f"Analyse {count}", type="primary", key="batch_run", icon=":material/play_arrow:"
    )
    # The error's "Try again" button (below) sets the flag during its callback.
    if pressed or st.session_state.pop(BATCH_RETRY_KEY, False):
        limits = batching.request_limits(service_limits(info))
        current = run_batch(client, audios, key, limits)
        st.session_state[BATCH_KEY] = current
    if current is None:
        return
    if current.error is not None:
        show_api_error(current.error, subject=count, retry=_retry_batch, retry_key="batch_retry")
        return

    frame = tables.batch_frame(current.items, labels)
    n_ok = int((frame["status"] == "ok").sum())
    n_rejected = len(frame) - n_ok
    n_unsure = int((frame["answer"] == tables.NOT_SURE).sum())
    done, unsure, rejected, _ = st.columns([1, 1, 1, 1])
    done.metric("Analysed", n_ok)
    unsure.metric(
        "Not sure",
        n_unsure,
        help="Files whose best guess is below the model's confidence threshold: their answer "
        "is 'not sure', the best guess stays in the emotion column.",
    )
    rejected.metric("Rejected", n_rejected)
    if n_ok:
        answers = frame.loc[frame["status"] == "ok", "answer"]
        st.altair_chart(
            charts.emotion_counts_chart(list(answers)),
            width="stretch",
            height=charts.bar_chart_height(answers.nunique()),
        )
    # Error next to status so a refusal's reason is visible without scrolling sideways.
    first = ["file", "status", "answer", "emotion", "confidence", "uncertain", "error"]
    st.dataframe(
        frame,
        hide_index=True,
        column_order=first + [column for column in frame.columns if column not in first],
        column_config={
            "confidence": st.column_config.ProgressColumn(
                "confidence", min_value=0.0, max_value=1.0, format="percent"
            ),
            "emotion": st.column_config.TextColumn("best guess"),
            "error": st.column_config.TextColumn("error", width="large"),
        },
    )
    st.download_button(
        "Download results (CSV)",
        data=tables.frame_to_csv(frame),
        file_name="emotion-results.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        type="primary",
    )


# --------------------------------------------------------------------------------------
# About the model


def render_live(client: api.ApiClient, info: api.ModelInfo | api.ApiError) -> None:
    """The browser's microphone streamed to the API: the emotion while someone speaks."""
    if isinstance(info, api.ApiError):
        st.info("The live view needs the API; see the message on the first tab.")
        return
    st.markdown(
        "Speak and watch the emotion of each "
        f"{info.feature_config.get('window_s', 3):g}-second window as soon as it is heard. "
        "The audio goes from your browser to the analysis service only."
    )
    components.html(
        live.live_html(
            live.public_api_url(client.base_url),
            info.labels,
            float(info.feature_config.get("window_hop_s", 1.5)),
            client.api_key,
        ),
        height=live.COMPONENT_HEIGHT_PX,
    )


def render_about(info: api.ModelInfo | api.ApiError) -> None:
    """``GET /model`` for people: labels, evaluation with its protocol, data, licence."""
    if isinstance(info, api.ApiError):
        show_api_error(
            info, subject="the model description", retry=_forget_model_info, retry_key="about_retry"
        )
        return
    st.subheader(f"Model {info.model_version}")
    st.markdown(
        "**Emotions it can recognise:** "
        + " · ".join(f"{charts.emotion_icon(label)} {label}" for label in info.labels)
    )
    st.info(plain_summary(info), icon=":material/summarize:")
    st.markdown(HONEST_NOTE)
    render_outputs_explained(info)
    st.markdown("#### Licence")
    if info.license:
        st.warning(info.license, icon=":material/gavel:")
    else:
        st.caption("The model does not state a licence; ask its publisher before reuse.")
    # Streamlit refuses an expander inside an expander: inside, the raw figures are
    # collapsed JSON trees instead.
    with st.expander("Details for experts: evaluation protocol, figures, training data, features"):
        render_expert_details(info)


def _span(values: list[float]) -> str:
    """'37 %' or '37–48 %' over measured rates (0…1)."""
    low, high = min(values), max(values)
    return (
        _percent(low)
        if round(100 * low) == round(100 * high)
        else (f"{100 * low:.0f}–{_percent(high)}")
    )


def profile_gains(info: api.ModelInfo) -> list[tuple[float, float]]:
    """(plain, adapted) 7-class accuracy, 0…1, of a 100-clip domain profile on each corpus
    neither head trained on, from GET /model ``adaptation.metrics`` (``held_out:<corpus>``
    rows); corpora the plain head trained on are left out (its plain figure is memory)."""
    corpora = info.training_data.get("corpora") if info.training_data else None
    trained = {c for c in corpora if isinstance(c, str)} if isinstance(corpora, list) else set()
    pairs = []
    for key, columns in _section(info.adaptation or {}, "metrics").items():
        corpus = key.removeprefix("held_out:")
        if corpus == key or corpus in trained or not isinstance(columns, dict):
            continue
        draw = next(
            (columns[d] for d in ("domain:neutral_60_100", "domain:random_100")
             if _measured(columns.get(d))),
            None,
        )  # fmt: skip
        if draw is not None and _measured(columns.get("plain")):
            pairs.append((columns["plain"] / 100, draw / 100))
    return pairs


def plain_summary(info: api.ModelInfo) -> str:
    """What the model is good and bad at, in plain words with the measured figures (from
    ``GET /model``: held-out speakers, held-out corpora, calibration, domain profiles); a
    sentence whose figures the model does not report is left out."""
    metrics = info.metrics
    n = len(info.labels)
    parts = []
    known = _section(_section(metrics, "held_out_speakers"), "all").get("accuracy")
    if _measured(known):
        parts.append(
            f"On new voices recorded like its training data (acted speech), it names the right "
            f"one of {n} emotions **{_percent(known)}** of the time (guessing: "
            f"{_percent(1 / n)})."
        )
    unseen = [
        v["accuracy"]
        for v in _section(metrics, "leave_one_corpus_out").values()
        if isinstance(v, dict) and _measured(v.get("accuracy"))
    ]
    if unseen:
        parts.append(
            "On recordings unlike its training data (another microphone, room, language or "
            f"manner of speaking) it is right only **{_span(unseen)}** of the time, and it "
            "tends to favour one emotion."
        )
    pairs = profile_gains(info)
    if pairs:
        plain, adapted = zip(*pairs, strict=True)
        parts.append(
            f"On {len(pairs)} corpora it never trained on, a profile of about 100 of *your* "
            "recordings (sidebar, *Your recordings*) moved its accuracy from "
            f"{_span(list(plain))} to **{_span(list(adapted))}** in its own protocol, "
            "though not on every corpus."
        )
    at_threshold = _section(
        _section(_section(metrics, "calibration"), "test_speakers"), "at_threshold"
    )
    coverage, accuracy = at_threshold.get("coverage"), at_threshold.get("accuracy")
    if _measured(coverage, accuracy):
        parts.append(
            f"When it is unsure it says *Not sure* and shows its best guess: on new voices its "
            f"sure answers were right {_percent(accuracy)} of the time and covered "
            f"{_percent(coverage)} of the recordings."
        )
    if not parts:
        return (
            "**In short.** This model reports no evaluation figures; treat its answers with care."
        )
    return "**In short.** " + " ".join(parts)


def render_expert_details(info: api.ModelInfo) -> None:
    """The evaluation with its protocol, training data, licence and features, for experts."""
    st.markdown("#### How well it works")
    protocol = info.metrics.get("protocol")
    if isinstance(protocol, str) and protocol:
        st.info(f"**How these numbers were measured:** {protocol}", icon=":material/science:")
    summary = tables.metrics_table(info.metrics)
    if summary.empty:
        st.caption("The model does not report evaluation numbers.")
    else:
        st.dataframe(
            summary,
            hide_index=True,
            column_config={
                name: st.column_config.NumberColumn(name, format="percent")
                for name in summary.columns
                if name in tables.RATE_METRICS
            },
        )
    notes = [
        f"**{key.replace('_', ' ')}:** {value}"
        for key, value in info.metrics.items()
        if isinstance(value, str) and key != "protocol"
    ]
    for note in notes:
        st.markdown(note)
    per_class = tables.per_class_table(info.metrics)
    if not per_class.empty:
        st.markdown("**Per-emotion precision and recall**")
        st.dataframe(per_class, hide_index=True)
    if calibration_text := calibration_details(info):
        st.markdown(calibration_text)
    if info.metrics:
        st.caption("All evaluation numbers (raw)")
        st.json(dict(info.metrics), expanded=False)

    st.markdown("#### Training data")
    if info.training_data:
        corpora = info.training_data.get("corpora")
        if isinstance(corpora, list) and corpora:
            st.dataframe(
                pd.json_normalize(corpora)
                if isinstance(corpora[0], dict)
                else pd.DataFrame({"corpus": corpora}),
                hide_index=True,
            )
        st.caption("Training data details (raw)")
        st.json(dict(info.training_data), expanded=False)
    else:
        st.caption("The model does not describe its training data.")
    st.markdown("#### Feature configuration")
    st.json(dict(info.feature_config), expanded=False)


def calibration_details(info: api.ModelInfo) -> str:
    """The calibration's parameters, for experts (empty for an uncalibrated model)."""
    calibration = info.calibration
    if not calibration.calibrated:
        return ""
    return (
        f"**Calibration.** Softmax temperature {calibration.temperature:.3g}; "
        f'"not sure" below a top probability of {calibration.uncertain_below:.3f}.'
    )


def _section(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when both are objects, else empty: the metrics' layout belongs to the
    training job, and a model without these figures must still get its About panel."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


NOT_MEASURED = " (Not measured for this model.)"


def _measured(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def render_outputs_explained(info: api.ModelInfo) -> None:
    """The three answers in plain words, with the figures measured on unseen test speakers
    (``metrics.calibration.test_speakers``, written by the training job)."""
    calibration = info.calibration
    measured = _section(_section(info.metrics, "calibration"), "test_speakers")
    at_threshold = _section(measured, "at_threshold")
    st.markdown("#### What the answers mean")
    if not calibration.calibrated:
        st.caption(
            "This model carries no calibration: its confidence is the raw model output and "
            'it never says "not sure".'
        )
    ece_before, ece_after = measured.get("ece_uncalibrated"), measured.get("ece_calibrated")
    ece = (
        f" On speakers it never heard, confidence and real accuracy differ by "
        f"{_percent(ece_after)} on average (calibration error; {_percent(ece_before)} "
        "before calibration)."
        if _measured(ece_before, ece_after)
        else ""
    )
    st.markdown(
        f"**Emotion and confidence.** The most likely of the {len(info.labels)} emotions, and "
        "how likely the model thinks it is."
        + (
            " The confidence is *calibrated* on speakers and corpora it never trained on, so a "
            f"higher number really means right more often.{ece}"
            if calibration.calibrated
            else ""
        )
    )
    coverage, accuracy = at_threshold.get("coverage"), at_threshold.get("accuracy")
    kept = (
        f" Above that threshold the model answered {_percent(coverage)} of the test "
        f"recordings and was right on {_percent(accuracy)} of them."
        if _measured(coverage, accuracy)
        else NOT_MEASURED
    )
    st.markdown(
        f'**"Not sure".** When the confidence is below '
        f"{_percent(calibration.uncertain_below)}, the page says *Not sure* and shows the best "
        f"guess instead of a verdict.{kept}"
        if calibration.uncertain_below > 0
        else '**"Not sure".** This model has no threshold: it always names an emotion.'
    )
    arousal_accuracy = measured.get("arousal_accuracy")
    valence_accuracy = measured.get("valence_sign_accuracy")
    dimensions = (
        f" High vs low arousal was right on {_percent(arousal_accuracy)} of test recordings, "
        f"positive vs negative valence on {_percent(valence_accuracy)}."
        if _measured(arousal_accuracy, valence_accuracy)
        else NOT_MEASURED
    )
    st.markdown(
        "**Arousal and valence.** Two dimensions that carry across voices and recording "
        "conditions better than the seven categories: *arousal* is how activated the voice "
        f"is (0 calm … 1 excited, angry or afraid), *valence* how positive (−1 … +1).{dimensions}"
    )
    if calibration.fitted_on:
        st.caption(f"How the calibration was fitted: {calibration.fitted_on}")


# --------------------------------------------------------------------------------------
# Your voice (speaker adaptation)


def adaptation_rule(adaptation: dict[str, Any]) -> str:
    """When a profile is used, in words, from GET /model ``adaptation`` (its ``min_windows``,
    ``max_dominant_share`` and ``min_answer_entropy``); empty when the model does not say."""
    min_windows = adaptation.get("min_windows")
    share = adaptation.get("max_dominant_share")
    parts = []
    if _measured(min_windows):
        parts.append(f"at least {min_windows:g} windows of speech")
    if _measured(share):
        parts.append(f"no more than {_percent(share)} of them sounding like one emotion")
    if _measured(entropy := adaptation.get("min_answer_entropy")) and entropy > 0:
        parts.append("clips where you sound different (not one mood throughout)")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f" This model uses a profile once it holds {listed}."


def _current_speaker(client: api.ApiClient) -> api.Speaker | None:
    """The enrolled profile, asked of the API again when this session lost track of it (an
    enrolment that failed half way may or may not have reached the profile)."""
    speaker_id = st.session_state.get(SPEAKER_ID_KEY)
    if speaker_id is None or _speaker() is not None:
        return _speaker()
    try:
        speaker = client.get_speaker(speaker_id)
    except api.ApiRejectedError as error:
        if error.status_code != 404:
            raise
        _forget_speaker(
            f"Your voice profile is no longer on the analysis service ({error.detail}). "
            "Enrol again to adapt answers."
        )
        return None
    st.session_state[SPEAKER_KEY] = speaker
    return speaker


def enrol_clips(client: api.ApiClient, clips: Sequence[api.AudioFile]) -> None:
    """Send ``clips`` to the profile (creating it when there is none) in **one** request, so
    that the API's all-or-nothing answer holds for the whole choice: either every clip is in
    the profile or none is, and a refusal names every bad file. The outcome goes to the
    session state. (The caller keeps the choice within the API's limits.)"""
    st.session_state.pop(VOICE_ERROR_KEY, None)
    speaker_id = st.session_state.get(SPEAKER_ID_KEY)
    try:
        speaker = client.enrol(clips) if speaker_id is None else client.add_clips(speaker_id, clips)
    except api.ApiError as error:
        if speaker_id is not None and not isinstance(error, api.ApiRejectedError):
            # The API may have counted the clips before the answer was lost.
            st.session_state.pop(SPEAKER_KEY, None)
        if isinstance(error, api.ApiRejectedError) and error.status_code == 404:
            _forget_speaker()
        st.session_state[VOICE_ERROR_KEY] = (error, {_clip_digest(clip) for clip in clips})
        return
    _remember_speaker(speaker, clips)


def enrolment_limit_problem(
    clips: Sequence[api.AudioFile], limits: ServiceLimits | None
) -> str | None:
    """Why ``clips`` cannot go in one enrolment request (too many files or bytes for the
    API), or None."""
    if limits is None:
        return None
    if limits.max_enrol_files is not None and len(clips) > limits.max_enrol_files:
        return (
            f"{len(clips)} clips chosen; one enrolment takes at most {limits.max_enrol_files}. "
            "Choose fewer, then add the rest."
        )
    size = sum(len(clip.content) for clip in clips)
    most = int(limits.max_upload_bytes * batching.MULTIPART_HEADROOM)
    if size > most:
        return (
            f"The clips chosen are {size / 1e6:.1f} MB together; one enrolment takes at most "
            f"{most / 1e6:.1f} MB. Choose fewer, then add the rest."
        )
    return None


def forget_voice(client: api.ApiClient, speaker_id: str) -> None:
    """``DELETE /speakers/{id}``; a profile the API no longer has is forgotten as well."""
    try:
        client.delete_speaker(speaker_id)
    except api.ApiError as error:
        if not (isinstance(error, api.ApiRejectedError) and error.status_code == 404):
            st.session_state[VOICE_ERROR_KEY] = (error, None)
            return
    _forget_speaker("Your voice profile was deleted from the analysis service.")


def _chosen_domain() -> api.Domain | None:
    """The domain profile answers are adapted to (chosen in "Your recordings"), if any."""
    chosen = st.session_state.get(DOMAIN_ID_KEY)
    domains = st.session_state.get(DOMAINS_KEY) or []
    return next((d for d in domains if d.domain == chosen and d.usable), None)


def _forget_domains(notice: str | None = None) -> None:
    """List the key's domain profiles again on the next run (and drop the choice)."""
    st.session_state.pop(DOMAINS_KEY, None)
    st.session_state.pop(DOMAIN_ID_KEY, None)
    st.session_state[CHOICE_CHANGED_KEY] = True
    if notice:
        st.session_state[PLACE_NOTICE_KEY] = notice


def _domain_label(domain: api.Domain) -> str:
    ready = "ready" if domain.usable else "not used yet"
    return (
        f"{domain.clips} recording{'s' if domain.clips != 1 else ''} · "
        f"{domain.windows} windows · {ready} · {domain.created_at[:16].replace('T', ' ')}"
    )


def render_place(client: api.ApiClient, info: api.ModelInfo | api.ApiError) -> None:
    """The sidebar's "Your recordings" step (issue 30): a profile of the place the person's
    recordings come from (their microphone, room, language), made from a sample of them;
    answers can then be adapted to it. The profiles are listed from the API on every new
    session, so a reload loses none, and each can be deleted."""
    if not isinstance(info, api.ModelInfo) or not (info.adaptation or {}).get("domain_min_windows"):
        return  # a model whose head was not trained for domain profiles: no step
    st.header("Your recordings")
    notice = st.session_state.pop(PLACE_NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/info:")
    needed = info.adaptation["domain_min_windows"]
    st.caption(
        "This is how my recordings sound: upload a sample of recordings from your setting "
        "(same microphone, room and language; any speakers, several moods) and answers can "
        f"be adapted to it. A profile is used once it holds at least {needed:g} windows of "
        "speech (about that many clips of a few seconds), not mostly one emotion. It does "
        "not always help: on three corpora the model never trained on, 100 recordings moved "
        "accuracy by +9, −2 and −5 points against the plain answer (docs, Domain "
        "profiles). The service keeps statistics of the recordings, never the audio."
    )
    domains = _listed_once(DOMAINS_KEY, client.list_domains, "your recordings' profiles")
    if domains is None:
        return
    if domains:
        labels = {d.domain: _domain_label(d) for d in domains}
        options = [None, *labels]
        current = st.session_state.get(DOMAIN_ID_KEY)
        # The selectbox keeps its own state across reruns: after the list changed (a new
        # profile, a deleted one) the choice made for it is written in before it is drawn.
        if st.session_state.pop(CHOICE_CHANGED_KEY, False) or current not in options:
            st.session_state[DOMAIN_CHOICE] = current if current in options else None
        chosen = st.selectbox(
            "Adapt answers to",
            options,
            format_func=lambda d: NO_DOMAIN if d is None else labels[d],
            key=DOMAIN_CHOICE,
        )
        st.session_state[DOMAIN_ID_KEY] = chosen
        picked = next((d for d in domains if d.domain == chosen), None)
        if picked is not None and not picked.usable:
            st.warning(
                f"**Not used yet:** {picked.reason or 'the service did not say why'}.",
                icon=":material/hourglass_empty:",
            )
        if picked is not None and st.button(
            "Delete this profile",
            key="domain_delete",
            icon=":material/delete:",
            help="Deletes the profile's statistics from the analysis service.",
        ):
            try:
                client.delete_domain(picked.domain)
            except api.ApiError as error:
                if not (isinstance(error, api.ApiRejectedError) and error.status_code == 404):
                    st.session_state[PLACE_ERROR_KEY] = error
            _forget_domains("The recordings' profile was deleted from the analysis service.")
            st.rerun()
    limits = service_limits(info)
    max_files = limits.max_enrol_files if limits is not None else None
    uploaded = st.file_uploader(
        "A sample of your recordings",
        type=AUDIO_TYPES,
        accept_multiple_files=True,
        key="domain_files",
        max_upload_size=upload_limit_mb(limits),
        help=" ".join(filter(None, [ACCEPTED_FORMATS, limits_hint(limits)])),
    )
    files = [api.AudioFile(file.name, file.getvalue()) for file in uploaded or ()]
    # The uploader keeps its files after a profile is made: the same set twice would make a
    # second, identical profile.
    chosen_digest = _digest(*(_clip_digest(f).encode() for f in files)) if files else None
    made_already = chosen_digest is not None and chosen_digest == st.session_state.get(PROFILED_KEY)
    if made_already:
        st.caption("A profile of these recordings was just made; choose others for another.")
    too_many = max_files is not None and len(files) > max_files
    if too_many:
        st.warning(
            f"{len(files)} files chosen; one profile is made from at most {max_files} at a "
            "time. Choose fewer.",
            icon=":material/warning:",
        )
    if st.button(
        f"Make a profile of {len(files)} recording{'s' if len(files) != 1 else ''}",
        key="domain_run",
        type="primary",
        disabled=not files or too_many or made_already,
        icon=":material/library_add:",
    ):
        st.session_state.pop(PLACE_ERROR_KEY, None)
        with st.spinner("Profiling the recordings…", show_time=True), busy_notice(client):
            try:
                created = client.create_domain(files)  # all files or none: one request
            except api.ApiError as error:
                st.session_state[PLACE_ERROR_KEY] = error
            else:
                _forget_domains(
                    f"Profile made from {created.clips} recordings ({created.windows} windows)."
                )
                st.session_state[DOMAIN_ID_KEY] = created.domain
                st.session_state[PROFILED_KEY] = chosen_digest
        st.rerun()
    error = st.session_state.get(PLACE_ERROR_KEY)
    if error is not None:
        show_api_error(error, subject="the recordings (nothing was stored)")


T = TypeVar("T")


def _listed_once(key: str, fetch: Callable[[], list[T]], subject: str) -> list[T] | None:
    """``fetch()`` (the key's profiles from the API) once per browser session, kept under
    ``key``; None once the failure is shown (the next run asks again)."""
    if key not in st.session_state:
        try:
            st.session_state[key] = fetch()
        except api.ApiError as error:
            show_api_error(error, subject=subject)
            return None
    return st.session_state[key]


def _speaker_label(speaker: api.Speaker) -> str:
    ready = "ready" if speaker.usable else "not used yet"
    return (
        f"{speaker.clips} clip{'s' if speaker.clips != 1 else ''} · {speaker.windows} windows "
        f"· {ready} · made {speaker.created_at[:16].replace('T', ' ')}"
    )


def pick_stored_speaker(client: api.ApiClient) -> None:
    """A page without a profile in its session (reloaded, a new tab) lists the key's voice
    profiles from the API, once per session, so the person can take theirs up again (and
    forget it): their data is never out of their reach."""
    stored = _listed_once(STORED_SPEAKERS_KEY, client.list_speakers, "your voice profiles")
    if not stored:
        return
    labels = {speaker.speaker: _speaker_label(speaker) for speaker in stored}
    chosen = st.selectbox(
        "Voice profiles made before with this key",
        [None, *labels],
        format_func=lambda s: "Choose yours" if s is None else labels[s],
        key="speaker_pick",
    )
    if chosen is not None and st.button(
        "Use this profile", key="speaker_use", icon=":material/person_check:"
    ):
        st.session_state[SPEAKER_ID_KEY] = chosen
        st.session_state.pop(STORED_SPEAKERS_KEY, None)
        st.rerun()


def render_speaker(speaker: api.Speaker) -> None:
    """What the profile holds and whether answers are adapted to it."""
    clips = f"{speaker.clips} clip{'s' if speaker.clips != 1 else ''}"
    windows = f"{speaker.windows} window{'s' if speaker.windows != 1 else ''} of speech"
    st.markdown(f"**Your profile:** {clips} · {speaker.seconds:.1f} s · {windows}")
    if speaker.usable:
        st.success(
            'Ready: switch on "Adapt to my voice" when you analyse a clip.',
            icon=":material/record_voice_over:",
        )
    else:
        st.warning(
            f"**Not used yet:** {speaker.reason or 'the service did not say why'}.",
            icon=":material/hourglass_empty:",
        )


def render_voice(client: api.ApiClient, info: api.ModelInfo | api.ApiError) -> None:
    """The sidebar's "Your voice" step: enrol clips of one's own voice, add more, forget it."""
    st.header("Your voice")
    notice = st.session_state.pop(VOICE_NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/info:")
    if isinstance(info, api.ApiError):
        st.caption("Enrolling your voice needs the analysis service.")
        return
    can_adapt = info.adaptation is not None
    if can_adapt:
        st.caption(
            "Enrol a few clips of your own voice, in more than one mood, and answers can be "
            "adapted to how you usually sound." + adaptation_rule(info.adaptation or {}) + " "
            "The service keeps statistics of the clips, never the audio."
        )
    else:
        st.caption(NO_ADAPTATION_NOTE)
    try:
        speaker = _current_speaker(client)
    except api.ApiError as error:
        show_api_error(
            error, subject="your voice profile", retry=lambda: None, retry_key="voice_retry"
        )
        speaker = None
    if speaker is not None:
        render_speaker(speaker)
    elif can_adapt and st.session_state.get(SPEAKER_ID_KEY) is None:
        pick_stored_speaker(client)

    limits = service_limits(info)
    uploaded = st.file_uploader(
        "Clips of your voice",
        type=AUDIO_TYPES,
        accept_multiple_files=True,
        key="enrol_files",
        disabled=not can_adapt,
        max_upload_size=upload_limit_mb(limits),
        help=" ".join(
            filter(
                None,
                [
                    "Only you speaking, a few seconds to a minute each.",
                    ACCEPTED_FORMATS,
                    limits_hint(limits),
                ],
            )
        ),
    )
    recording = st.audio_input("Or record yourself", key="enrol_recording", disabled=not can_adapt)
    clips = [api.AudioFile(file.name, file.getvalue()) for file in uploaded or ()]
    if recording is not None:
        clips.append(api.AudioFile(RECORDING_NAME, recording.getvalue()))
    seen = set(st.session_state.get(ENROLLED_KEY, ()))
    new: list[api.AudioFile] = []
    for clip in clips:
        digest = _clip_digest(clip)
        if digest not in seen:  # a clip counted twice would skew the profile
            seen.add(digest)
            new.append(clip)
    count = f"{len(new)} clip{'s' if len(new) != 1 else ''}"
    has_profile = st.session_state.get(SPEAKER_ID_KEY) is not None
    too_much = enrolment_limit_problem(new, limits)
    if too_much:
        st.warning(too_much, icon=":material/warning:")
    pressed = st.button(
        f"Add {count} to my profile" if has_profile else f"Enrol {count}",
        key="enrol_run",
        type="primary",
        disabled=not can_adapt or not new or too_much is not None,
        icon=":material/person_add:",
    )
    if clips and not new:
        st.caption("These clips are in your profile already; choose others to add.")
    if pressed:
        with st.spinner(f"Enrolling {count}…", show_time=True), busy_notice(client):
            enrol_clips(client, new)
        st.rerun()
    failure = st.session_state.get(VOICE_ERROR_KEY)
    if failure is not None:
        error, about = failure
        # About the clips still waiting; once the choice changes, it is about other clips.
        if about is None or about == {_clip_digest(clip) for clip in new}:
            show_api_error(error, subject="the clips of your voice")
        else:
            del st.session_state[VOICE_ERROR_KEY]
    # Not an on_click callback: that would run on the next rerun, with this run's client
    # already closed.
    if has_profile and st.button(
        "Forget my voice",
        key="forget_voice",
        icon=":material/delete:",
        help="Deletes your voice profile from the analysis service.",
    ):
        forget_voice(client, st.session_state[SPEAKER_ID_KEY])
        st.rerun()


# --------------------------------------------------------------------------------------
# Page


def render_sidebar(
    client: api.ApiClient,
    info: api.ModelInfo | api.ApiError,
    status_area: DeltaGenerator | None = None,
) -> None:
    """The service's status (in ``status_area``, a sidebar container placed above Your
    voice, when given) and how to read the results (at the sidebar's end)."""
    with status_area if status_area is not None else st.sidebar:
        st.header("Service")
        if isinstance(info, api.ModelInfo):
            st.success(f"Connected · model {info.model_version}", icon=":material/check_circle:")
        else:
            st.error("Not connected to the analysis service.", icon=":material/cloud_off:")
            st.button(
                "Check again",
                key="sidebar_retry",
                on_click=_forget_model_info,
                icon=":material/refresh:",
            )
        st.caption(f"API: `{client.base_url}`")
    with st.sidebar:
        st.markdown(
            "**Reading the result.** The bars are the model's probabilities for every "
            "emotion. *Not sure* means the model's confidence is too low to name one. The "
            "plane shows how activated (arousal) and how positive (valence) the voice "
            "sounds. Longer clips are cut into overlapping windows and coloured by "
            "emotion over time."
        )
        st.caption(HONEST_NOTE)


def main() -> None:
    st.set_page_config(page_title=PAGE_TITLE, page_icon=":material/graphic_eq:", layout="wide")
    # People using the app have nothing to deploy; the toolbar keeps only what they need.
    st.set_option("client.toolbarMode", "minimal")
    # Material icons ship with Streamlit; emoji need a font the viewer may not have.
    st.title(f":material/graphic_eq: {PAGE_TITLE}")
    st.caption("Hear how something was said: upload or record speech and see the emotion.")
    try:
        client = api.ApiClient.from_env()
    except ValueError as error:
        st.error(f"The web app is misconfigured: {error}")
        st.stop()
    try:
        single_tab, live_tab, batch_tab, about_tab = st.tabs(
            [
                ":material/mic: Analyse a clip",
                ":material/graphic_eq: Live",
                ":material/library_music: Batch",
                ":material/info: About the model",
            ]
        )
        info = _model_info(client)
        # Your voice comes before the clip view in the run, so an enrolment shows there at
        # once; the service's status is filled in last, above it.
        status_area = st.sidebar.container()
        with st.sidebar:
            render_voice(client, info)
            render_place(client, info)
        with single_tab:
            render_single(client, info)
        if MODEL_INFO_KEY not in st.session_state:
            # A prediction just proved the API is back after an outage: ask again.
            info = _model_info(client)
        with live_tab:
            render_live(client, info)
        with batch_tab:
            render_batch(client, info)
        with about_tab:
            render_about(info)
        render_sidebar(client, info, status_area)
    finally:
        client.close()


if __name__ == "__main__":
    main()
