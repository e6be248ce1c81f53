"""Charts, display audio and result tables on synthesized data (no Streamlit, no API)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ser_ui import charts, display_audio, tables
from ser_ui import client as api
from tests.support.audio import SAMPLE_RATE, harmonic_tone, wav_bytes
from tests.ui.conftest import LABELS, make_model_info, make_prediction, make_segment

# --------------------------------------------------------------------------------------
# Colours


def test_every_emotion_has_its_own_fixed_colour() -> None:
    assert set(charts.EMOTION_COLOURS) == set(LABELS)
    assert len(set(charts.EMOTION_COLOURS.values())) == len(LABELS)
    assert charts.emotion_colour("angry") == charts.EMOTION_COLOURS["angry"]
    assert charts.emotion_colour(None) == charts.SILENCE_COLOUR
    assert charts.emotion_colour("silence") == charts.SILENCE_COLOUR


def test_unknown_label_gets_a_stable_fallback_colour() -> None:
    colour = charts.emotion_colour("contempt")
    assert colour in charts.FALLBACK_COLOURS
    assert charts.emotion_colour("contempt") == colour


def test_every_emotion_has_its_own_icon_from_streamlits_font() -> None:
    """Icons are Material Symbols names Streamlit knows (it refuses others at run time), not
    emoji, which need a font the viewer's browser may lack."""
    from streamlit.material_icon_names import ALL_MATERIAL_ICONS

    assert set(charts.EMOTION_ICONS) == set(LABELS)
    assert len(set(charts.EMOTION_ICONS.values())) == len(LABELS)
    for name in (*charts.EMOTION_ICONS.values(), charts.OTHER_EMOTION_ICON):
        assert name in ALL_MATERIAL_ICONS, name
    assert charts.emotion_icon("sad") == ":material/sentiment_sad:"
    assert charts.emotion_icon("contempt") == f":material/{charts.OTHER_EMOTION_ICON}:"


# --------------------------------------------------------------------------------------
# Probability bars


def test_probability_frame_is_sorted_with_percent_and_colour() -> None:
    frame = charts.probability_frame({"sad": 0.1, "happy": 0.6, "angry": 0.3})
    assert list(frame["emotion"]) == ["happy", "angry", "sad"]
    assert list(frame["percent"]) == ["60.0 %", "30.0 %", "10.0 %"]
    assert list(frame["colour"]) == [charts.EMOTION_COLOURS[e] for e in ("happy", "angry", "sad")]


def test_probability_chart_uses_the_emotion_colours_and_a_0_to_1_axis() -> None:
    probabilities = make_prediction("fearful", 0.55).probabilities
    spec = charts.probability_chart(probabilities).to_dict()
    bars = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "bar")
    scale = bars["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=True)) == {
        label: charts.EMOTION_COLOURS[label] for label in LABELS
    }
    assert scale["domain"][0] == "fearful"  # most probable on top
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 1]
    assert spec["height"] == charts.bar_chart_height(len(LABELS))


def test_emotion_counts_chart_counts_files_per_emotion_most_frequent_first() -> None:
    spec = charts.emotion_counts_chart(["sad", "happy", "sad"]).to_dict()
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert values == [{"emotion": "sad", "files": 2}, {"emotion": "happy", "files": 1}]
    bars = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "bar")
    assert bars["encoding"]["color"]["scale"]["range"] == [
        charts.EMOTION_COLOURS["sad"],
        charts.EMOTION_COLOURS["happy"],
    ]


# --------------------------------------------------------------------------------------
# Timeline


def overlapping_segments() -> list[api.Segment]:
    """3-s windows every 1.5 s over 7.5 s: happy, happy, angry, silence."""
    return [
        make_segment(0.0, 3.0, "happy", 0.8),
        make_segment(1.5, 4.5, "happy", 0.6),
        make_segment(3.0, 6.0, "angry", 0.7),
        make_segment(4.5, 7.5, None),
    ]


def test_timeline_splits_overlaps_at_their_midpoints() -> None:
    frame = charts.timeline_frame(overlapping_segments(), duration_s=7.5)
    assert list(frame["start_s"]) == [0.0, 2.25, 3.75, 5.25]
    assert list(frame["end_s"]) == [2.25, 3.75, 5.25, 7.5]
    assert list(frame["emotion"]) == ["happy", "happy", "angry", "silence"]
    assert list(frame["silent"]) == [False, False, False, True]
    assert np.isnan(frame["confidence"].iloc[-1])


def test_timeline_keeps_gaps_sorts_and_clips_to_the_duration() -> None:
    segments = [make_segment(5.0, 8.0, "sad", 0.5), make_segment(0.0, 3.0, "happy", 0.9)]
    frame = charts.timeline_frame(segments, duration_s=7.0)
    assert frame[["start_s", "end_s"]].to_numpy().tolist() == [[0.0, 3.0], [5.0, 7.0]]
    assert charts.timeline_frame([]).empty


def speech_with_a_pause(
    pause_s: tuple[float, float], duration_s: float = 7.5
) -> display_audio.DisplayAudio:
    """A tone at -12 dBFS with room noise at -60 dBFS over ``pause_s``."""
    rate = 16_000
    t = np.arange(int(duration_s * rate)) / rate
    samples = 0.35 * np.sin(2 * np.pi * 180 * t)
    quiet = (t >= pause_s[0]) & (t < pause_s[1])
    samples[quiet] = np.random.default_rng(0).normal(0, 1e-3, quiet.sum())
    return display_audio.DisplayAudio(samples.astype(np.float32), rate, 1)


def test_a_pause_is_found_and_too_short_a_dip_is_not() -> None:
    found = display_audio.pauses(speech_with_a_pause((2.0, 3.2)))
    assert len(found) == 1
    assert found[0] == pytest.approx((2.0, 3.2), abs=display_audio.PAUSE_FRAME_S)
    assert display_audio.pauses(speech_with_a_pause((2.0, 2.1))) == []  # under PAUSE_MIN_S
    assert display_audio.pauses(tone_audio(3.0)) == []


def test_a_pause_inside_an_answered_window_is_drawn_as_silence() -> None:
    """Issue 34: a silent gap inside a window was coloured with the window's emotion."""
    timeline = charts.timeline_frame(overlapping_segments(), duration_s=7.5)
    paused = charts.with_pauses(timeline, [(1.0, 2.0)])
    assert paused[["start_s", "end_s", "emotion"]].to_numpy().tolist() == [
        [0.0, 1.0, "happy"], [1.0, 2.0, "silence"], [2.0, 2.25, "happy"],
        [2.25, 3.75, "happy"], [3.75, 5.25, "angry"], [5.25, 7.5, "silence"],
    ]  # fmt: skip
    assert paused["silent"].tolist()[1] and np.isnan(paused["confidence"].iloc[1])
    assert charts.with_pauses(timeline, []).equals(timeline)
    # Through the figure: the pause's stretch of the strip is silence's grey.
    figure = charts.waveform_figure(speech_with_a_pause((1.0, 2.0)), paused)
    grey = [p for p in figure.axes[1].patches if to_hex(p.get_facecolor()) == charts.SILENCE_COLOUR]
    assert any(abs(patch.get_x() - 1.0) < 1e-9 for patch in grey)


def test_merge_runs_joins_touching_spans_of_one_emotion() -> None:
    runs = charts.merge_runs(charts.timeline_frame(overlapping_segments(), duration_s=7.5))
    assert runs.to_dict("records") == [
        {"start_s": 0.0, "end_s": 3.75, "emotion": "happy", "uncertain": False},
        {"start_s": 3.75, "end_s": 5.25, "emotion": "angry", "uncertain": False},
        {"start_s": 5.25, "end_s": 7.5, "emotion": "silence", "uncertain": False},
    ]


def test_unsure_windows_are_drawn_pale_and_hatched_and_labelled_as_guesses() -> None:
    """Issue 34: an uncertain window looked like a sure one; neutral looked like silence."""
    segments = overlapping_segments()
    segments[2] = segments[2].model_copy(update={"uncertain": True})  # angry, not sure
    timeline = charts.timeline_frame(segments, duration_s=7.5)
    assert list(timeline["uncertain"]) == [False, False, True, False]
    figure = charts.waveform_figure(tone_audio(7.5), timeline)
    strip = figure.axes[1]
    sure, unsure = strip.patches[0], strip.patches[2]
    assert not sure.get_hatch() and sure.get_alpha() in (None, 1.0)
    assert unsure.get_hatch() == charts.UNSURE_HATCH and unsure.get_alpha() == charts.UNSURE_ALPHA
    assert [text.get_text() for text in strip.texts] == ["happy", "angry?", "silence"]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[-1] == "not sure (best guess?)"
    assert to_hex(charts.EMOTION_COLOURS["neutral"]) != charts.SILENCE_COLOUR
    figure.savefig(io.BytesIO(), format="png")


# --------------------------------------------------------------------------------------
# Display audio


def tone_audio(duration_s: float = 2.0, rate: int = SAMPLE_RATE) -> display_audio.DisplayAudio:
    return display_audio.DisplayAudio(harmonic_tone(duration_s, rate=rate), rate, 1)


def test_decode_mixes_channels_to_mono() -> None:
    left = harmonic_tone(1.0)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    decoded = display_audio.decode_audio(wav_bytes(stereo, subtype="FLOAT"))
    assert decoded.channels == 2 and decoded.sample_rate == SAMPLE_RATE
    assert decoded.samples.shape == (SAMPLE_RATE,)
    np.testing.assert_allclose(decoded.samples, left / 2, atol=1e-6)
    assert decoded.duration_s == pytest.approx(1.0)


@pytest.mark.parametrize("content", [b"", b"not audio at all", b"RIFF\x00\x00"])
def test_decode_refuses_what_it_cannot_draw(content: bytes) -> None:
    with pytest.raises(display_audio.DisplayAudioError):
        display_audio.decode_audio(content)


def test_decode_replaces_non_finite_samples() -> None:
    samples = harmonic_tone(0.5)
    samples[100] = np.nan
    decoded = display_audio.decode_audio(wav_bytes(samples, subtype="FLOAT"))
    assert np.isfinite(decoded.samples).all()


def test_envelope_keeps_every_peak_in_at_most_n_columns() -> None:
    audio = tone_audio(10.0)
    samples = audio.samples.copy()
    samples[123_457] = 0.99  # one click must survive the reduction
    audio = display_audio.DisplayAudio(samples, SAMPLE_RATE, 1)
    envelope = display_audio.waveform_envelope(audio, n_columns=500)
    assert envelope.low.shape == envelope.high.shape == envelope.times_s.shape == (500,)
    assert envelope.high.max() == pytest.approx(0.99)
    assert (envelope.low <= envelope.high).all()
    assert envelope.times_s[-1] < 10.0


def test_spectrogram_finds_the_tone_and_bounds_its_size() -> None:
    rate = 16_000
    t = np.arange(rate * 2) / rate
    audio = display_audio.DisplayAudio(
        (0.5 * np.sin(2 * np.pi * 1_000 * t)).astype(np.float32), rate, 1
    )
    result = display_audio.spectrogram(audio)
    peak_bin = result.power_db.mean(axis=1).argmax()
    assert result.frequencies_hz[peak_bin] == pytest.approx(1_000, abs=rate / 512)
    assert result.power_db.max() == 0.0
    assert result.power_db.min() >= display_audio.SPECTROGRAM_FLOOR_DB
    assert result.frequencies_hz[-1] <= display_audio.SPECTROGRAM_MAX_HZ


def test_spectrogram_of_a_long_clip_stays_small() -> None:
    audio = display_audio.DisplayAudio(np.zeros(48_000 * 600, dtype=np.float32), 48_000, 1)
    result = display_audio.spectrogram(audio)
    assert result.power_db.shape[1] <= display_audio.MAX_SPECTROGRAM_FRAMES
    assert result.times_s[-1] == pytest.approx(600, abs=1)


def test_spectrogram_of_a_clip_shorter_than_one_window() -> None:
    audio = display_audio.DisplayAudio(np.ones(10, dtype=np.float32), SAMPLE_RATE, 1)
    assert display_audio.spectrogram(audio).power_db.shape[1] == 1


# --------------------------------------------------------------------------------------
# Figures


def axvspan_colours(figure: Figure) -> list[str]:
    strip = figure.axes[1]
    return [to_hex(patch.get_facecolor(), keep_alpha=False) for patch in strip.patches]


def test_waveform_figure_colours_the_timeline_by_emotion() -> None:
    timeline = charts.timeline_frame(overlapping_segments(), duration_s=7.5)
    figure = charts.waveform_figure(tone_audio(7.5), timeline)
    assert len(figure.axes) == 2
    assert axvspan_colours(figure) == [
        charts.EMOTION_COLOURS["happy"],
        charts.EMOTION_COLOURS["happy"],
        charts.EMOTION_COLOURS["angry"],
        charts.SILENCE_COLOUR,
    ]
    labels = [text.get_text() for text in figure.axes[1].texts]
    assert labels == ["happy", "angry", "silence"]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["happy", "angry", "silence"]
    assert figure.axes[0].get_xlim() == pytest.approx((0, 7.5))
    figure.savefig(io.BytesIO(), format="png")  # renders without error


def test_waveform_figure_without_timeline_is_a_single_plot() -> None:
    figure = charts.waveform_figure(tone_audio(1.0))
    assert len(figure.axes) == 1 and not figure.legends
    figure.savefig(io.BytesIO(), format="png")


def test_waveform_figure_of_silence_does_not_divide_by_zero() -> None:
    audio = display_audio.DisplayAudio(np.zeros(1600, dtype=np.float32), SAMPLE_RATE, 1)
    figure = charts.waveform_figure(audio)
    low, high = figure.axes[0].get_ylim()
    assert low < 0 < high


def test_spectrogram_figure_has_khz_axis_and_colourbar() -> None:
    figure = charts.spectrogram_figure(tone_audio(2.0))
    main, colourbar = figure.axes
    assert main.get_ylabel() == "frequency (kHz)"
    assert colourbar.get_ylabel() == "dB"
    assert main.get_xlim() == pytest.approx((0, 2.0))
    figure.savefig(io.BytesIO(), format="png")


# --------------------------------------------------------------------------------------
# Tables


def test_batch_frame_has_one_row_per_file_and_probability_columns() -> None:
    items = [
        api.BatchItem("a.wav", prediction=make_prediction("sad", 0.81234)),
        api.BatchItem("b.wav", error=api.ApiRejectedError("audio is silent", status_code=422)),
    ]
    frame = tables.batch_frame(items, LABELS)
    assert list(frame.columns) == tables.BATCH_COLUMNS + [f"p_{label}" for label in LABELS]
    first, second = frame.to_dict("records")
    assert (first["file"], first["status"], first["emotion"]) == ("a.wav", "ok", "sad")
    assert first["confidence"] == 0.8123 and first["p_sad"] == 0.8123
    assert first["sample_rate"] == 16_000 and first["error"] == ""
    assert (second["status"], second["error"]) == ("rejected", "audio is silent")
    assert pd.isna(second["emotion"]) and pd.isna(second["p_sad"])


def test_batch_csv_round_trips_with_integer_sample_rates() -> None:
    items = [
        api.BatchItem("a.wav", error=api.ApiRejectedError("too short")),
        api.BatchItem("b,1.wav", prediction=make_prediction()),  # a comma needs quoting
    ]
    csv = tables.frame_to_csv(tables.batch_frame(items, LABELS))
    assert csv.decode().splitlines()[0].startswith("file,status,answer,emotion,confidence")
    back = pd.read_csv(io.BytesIO(csv))
    assert list(back["file"]) == ["a.wav", "b,1.wav"]
    assert ",16000," in csv.decode()


def test_batch_frame_appends_labels_the_model_info_did_not_list() -> None:
    prediction = make_prediction()
    extra = prediction.model_copy(update={"probabilities": {"calm": 1.0}})
    frame = tables.batch_frame([api.BatchItem("x.wav", prediction=extra)], ["happy"])
    assert [c for c in frame.columns if c.startswith("p_")] == ["p_happy", "p_calm"]


def test_segments_frame_marks_silence() -> None:
    prediction = make_prediction(segments=overlapping_segments())
    frame = tables.segments_frame(prediction)
    assert list(frame["emotion"]) == ["happy", "happy", "angry", "silence"]
    for name in ("confidence", "arousal", "valence"):
        assert frame[name].dtype == float and np.isnan(frame[name].iloc[-1])
    assert list(frame["uncertain"]) == [False, False, False, None]


def test_batch_frame_carries_not_sure_arousal_and_valence() -> None:
    sure, unsure = make_prediction("angry", 0.9), make_prediction("sad", 0.3, uncertain=True)
    items = [api.BatchItem("a.wav", prediction=sure), api.BatchItem("b.wav", prediction=unsure)]
    frame = tables.batch_frame(items, LABELS)
    assert list(frame["uncertain"]) == [False, True]
    # Issue 34: an unsure file's answer says so (table and CSV); its best guess stays.
    assert list(frame["answer"]) == ["angry", "not sure"]
    assert list(frame["emotion"]) == ["angry", "sad"]
    chart = charts.emotion_counts_chart(list(frame["answer"]))
    scale = chart.to_dict()["layer"][0]["encoding"]["color"]["scale"]
    assert scale["range"][scale["domain"].index("not sure")] == charts.NOT_SURE_COLOUR
    assert frame["arousal"].iloc[0] == pytest.approx(sure.arousal, abs=1e-4)
    assert frame["valence"].iloc[1] == pytest.approx(unsure.valence, abs=1e-4)
    assert unsure.valence < 0


def test_affect_plane_puts_the_recording_and_its_trail_on_the_circumplex() -> None:
    prediction = make_prediction("angry", 0.9, segments=overlapping_segments())
    figure = charts.affect_plane_figure(prediction)
    (axes,) = figure.axes
    assert axes.get_xlim() == (-1.0, 1.0) and axes.get_ylim() == (0.0, 1.0)
    assert "valence" in axes.get_xlabel() and "arousal" in axes.get_ylabel()
    (point,) = axes.collections  # the recording
    np.testing.assert_allclose(point.get_offsets(), [[prediction.valence, prediction.arousal]])
    assert prediction.arousal > 0.5 and prediction.valence < 0  # angry: top left
    (trail,) = axes.lines[2:]  # after the two axis lines: the voiced segments, in order
    voiced = [s for s in prediction.segments if not s.silent]
    np.testing.assert_allclose(trail.get_xdata(), [s.valence for s in voiced])
    np.testing.assert_allclose(trail.get_ydata(), [s.arousal for s in voiced])
    assert trail.get_alpha() < 0.5  # faint, behind the point
    texts = " ".join(t.get_text() for t in axes.texts)
    assert "angry" in texts and "happy" in texts and "calm" in texts and "sad" in texts


def test_affect_plane_of_a_single_window_has_no_trail() -> None:
    axes = charts.affect_plane_figure(make_prediction()).axes[0]
    assert len(axes.lines) == 2 and len(axes.collections) == 1


def test_metrics_table_finds_evaluations_at_any_level() -> None:
    metrics = {
        "protocol": "leave-one-corpus-out",
        "accuracy": 0.6,
        "test": {"uar": 0.5, "accuracy": 0.7, "per_class": {"happy": {"f1": 0.1}}},
        "loco": {"crema_d": {"accuracy": 0.4, "n": 100}},
    }
    frame = tables.metrics_table(metrics)
    assert list(frame["evaluation"]) == ["overall", "test", "loco / crema_d"]
    assert list(frame.columns) == ["evaluation", "accuracy", "uar", "n"]
    assert tables.metrics_table({"protocol": "none"}).empty


def test_per_class_table_prefers_the_shallowest_block() -> None:
    frame = tables.per_class_table(make_model_info().metrics)
    assert frame.to_dict("records") == [
        {"emotion": "happy", "precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 120}
    ]
    assert tables.per_class_table({}).empty
