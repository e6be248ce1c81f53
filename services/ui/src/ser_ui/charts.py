"""Charts of a prediction: probability bars, waveform with emotion timeline, spectrogram, and
the arousal-valence plane.

Pure functions from API results and decoded audio to Altair charts, matplotlib figures and
the dataframes behind them; no Streamlit here, so every chart is testable on its own.
Every emotion has one fixed colour on every chart and every page.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from itertools import pairwise

import altair as alt
import matplotlib

matplotlib.use("Agg")  # headless server: never try to open a window

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ser_ui.client import Prediction, Segment
from ser_ui.display_audio import DisplayAudio, waveform_envelope
from ser_ui.display_audio import spectrogram as compute_spectrogram

# One colour per emotion, chosen so the usual associations hold (angry red, sad blue, happy
# warm yellow) and neighbours stay distinguishable for common colour blindness. Neutral is a
# warm taupe, not grey: grey is silence (issue 34: the two were mistaken for each other).
EMOTION_COLOURS: dict[str, str] = {
    "angry": "#d62728",
    "disgust": "#6b8e23",
    "fearful": "#8e44ad",
    "happy": "#f0a30a",
    "neutral": "#a0826d",
    "sad": "#1f5fbf",
    "surprised": "#17a2b8",
}
# Material Symbols, which Streamlit ships as a web font: emoji needed a colour-emoji font the
# viewer's browser may lack (Debian's Chromium drew them as empty boxes).
EMOTION_ICONS: dict[str, str] = {
    "angry": "sentiment_extremely_dissatisfied",
    "disgust": "sick",
    "fearful": "sentiment_stressed",
    "happy": "sentiment_very_satisfied",
    "neutral": "sentiment_neutral",
    "sad": "sentiment_sad",
    "surprised": "sentiment_excited",
}
OTHER_EMOTION_ICON = "record_voice_over"  # a label a future model may add
SILENCE_LABEL = "silence"
SILENCE_COLOUR = "#e0e0e0"
UNSURE_ALPHA = 0.45  # a window the model is not sure of: its best guess, pale and hatched
UNSURE_HATCH = "////"
NOT_SURE_LABEL = "not sure"  # a batch file whose best guess is below the threshold
NOT_SURE_COLOUR = "#ffffff"  # drawn as an outline: no emotion's colour, not silence's grey
# For labels a future model may add: stable (same label → same colour) but not in the map.
FALLBACK_COLOURS = ("#e377c2", "#7f7f7f", "#bcbd22", "#9edae5", "#ff9896", "#c49c94")

WAVEFORM_COLOUR = "#333333"
TIMELINE_BACKGROUND_ALPHA = 0.22  # tint behind the waveform; the strip below is opaque
MIN_LABEL_FRACTION = 0.06  # of the clip's width: narrower runs get no text label
# The figures fill a column about 700 px wide: 7 in at 150 dpi keeps 9-pt text readable
# after the browser scales the PNG to fit, and sharp on high-density screens.
FIGURE_WIDTH_IN = 7.0  # inches
FIGURE_DPI = 150
FONT_SIZE_PT = 8
# Shared horizontal placement (fractions of the figure width) so the waveform and the
# spectrogram stacked under it have the same time axis, pixel for pixel.
AXES_LEFT = 0.09
AXES_RIGHT = 0.92
COLOURBAR_GAP = 0.01
COLOURBAR_WIDTH = 0.015
BAR_HEIGHT_PX = 28  # per emotion in the bar charts
# Streamlit fits the whole chart, axis and title included, into the height it is given.
BAR_CHART_AXIS_PX = 85  # x-axis ticks, labels and title; measured in Chromium


def emotion_colour(label: str | None) -> str:
    """Hex colour of ``label``; silence (``None`` or ``"silence"``) is light grey."""
    if label is None or label == SILENCE_LABEL:
        return SILENCE_COLOUR
    if label in EMOTION_COLOURS:
        return EMOTION_COLOURS[label]
    return FALLBACK_COLOURS[zlib.crc32(label.encode()) % len(FALLBACK_COLOURS)]


def emotion_icon(label: str) -> str:
    """Streamlit Markdown for ``label``'s icon, e.g. ``:material/sentiment_sad:``."""
    return f":material/{EMOTION_ICONS.get(label, OTHER_EMOTION_ICON)}:"


# --------------------------------------------------------------------------------------
# Probability bars


def probability_frame(probabilities: Mapping[str, float]) -> pd.DataFrame:
    """One row per label, most probable first.

    Returns
    -------
    DataFrame with columns ``emotion`` (str), ``probability`` (float, 0..1),
    ``percent`` (str, e.g. ``"81.2 %"``) and ``colour`` (hex str).
    """
    frame = pd.DataFrame(
        {"emotion": list(probabilities), "probability": [float(p) for p in probabilities.values()]}
    )
    frame = frame.sort_values("probability", ascending=False, kind="stable").reset_index(drop=True)
    frame["percent"] = [f"{100 * p:.1f} %" for p in frame["probability"]]
    frame["colour"] = [emotion_colour(label) for label in frame["emotion"]]
    return frame


def probability_chart(probabilities: Mapping[str, float]) -> alt.LayerChart:
    """Horizontal bars of every class probability, most probable on top, value labels."""
    frame = probability_frame(probabilities)
    order = list(frame["emotion"])
    colour = alt.Color(
        "emotion:N",
        scale=alt.Scale(domain=order, range=list(frame["colour"])),
        legend=None,
    )
    base = alt.Chart(frame).encode(
        # labelOverlap=False: Vega would otherwise hide every other emotion name.
        y=alt.Y(
            "emotion:N",
            sort=order,
            title=None,
            axis=alt.Axis(labelFontSize=13, labelOverlap=False),
        ),
        x=alt.X(
            "probability:Q",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="%", title="probability", tickCount=5),
        ),
        tooltip=[
            alt.Tooltip("emotion:N", title="emotion"),
            alt.Tooltip("probability:Q", title="probability", format=".1%"),
        ],
    )
    bars = base.mark_bar(cornerRadiusEnd=3).encode(color=colour)
    labels = base.mark_text(align="left", dx=4, fontSize=12).encode(text="percent:N")
    return (bars + labels).properties(height=bar_chart_height(len(order)))


def bar_chart_height(n_bars: int) -> int:
    """Pixels for a horizontal bar chart of ``n_bars`` bars plus its x axis."""
    return BAR_HEIGHT_PX * max(n_bars, 1) + BAR_CHART_AXIS_PX


def emotion_counts_chart(emotions: Sequence[str]) -> alt.LayerChart:
    """How many files got each answer (batch summary), most frequent on top.

    Parameters
    ----------
    emotions
        One answer per successfully analysed file: its emotion, or ``"not sure"`` (an
        outlined white bar, so it never reads as an emotion).
    """
    counts = pd.Series(list(emotions), dtype=object).value_counts()
    frame = pd.DataFrame({"emotion": counts.index.astype(str), "files": counts.to_numpy()})
    order = list(frame["emotion"])
    base = alt.Chart(frame).encode(
        y=alt.Y("emotion:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False)),
        x=alt.X("files:Q", title="files", axis=alt.Axis(tickMinStep=1, format="d")),
        tooltip=["emotion:N", "files:Q"],
    )
    colours = [NOT_SURE_COLOUR if label == NOT_SURE_LABEL else emotion_colour(label)
               for label in order]  # fmt: skip
    bars = base.mark_bar(cornerRadiusEnd=3, stroke="#666666", strokeWidth=0.5).encode(
        color=alt.Color("emotion:N", scale=alt.Scale(domain=order, range=colours), legend=None)
    )
    labels = base.mark_text(align="left", dx=4, fontSize=12).encode(text="files:Q")
    return (bars + labels).properties(height=bar_chart_height(len(order)))


# --------------------------------------------------------------------------------------
# Emotion timeline


def timeline_frame(segments: Sequence[Segment], duration_s: float | None = None) -> pd.DataFrame:
    """Non-overlapping spans to colour, one per segment.

    The API's windows overlap (e.g. 3 s windows every 1.5 s). Drawing them as they are
    would paint each moment twice, so each overlap is split at its midpoint: every moment
    is shown with the window whose centre is nearest.

    Returns
    -------
    DataFrame with columns ``start_s``, ``end_s`` (float, seconds), ``emotion`` (str, the
    label or ``"silence"``), ``confidence`` (float or NaN for silence), ``silent`` (bool),
    ``uncertain`` (bool: the emotion is only a best guess), sorted by ``start_s``.
    """
    columns = ["start_s", "end_s", "emotion", "confidence", "silent", "uncertain"]
    ordered = sorted(segments, key=lambda segment: (segment.start_s, segment.end_s))
    rows = []
    for index, segment in enumerate(ordered):
        start, end = segment.start_s, segment.end_s
        if index > 0 and start < ordered[index - 1].end_s:
            start = (start + ordered[index - 1].end_s) / 2
        if index + 1 < len(ordered) and ordered[index + 1].start_s < end:
            end = (ordered[index + 1].start_s + end) / 2
        if duration_s is not None:
            end = min(end, duration_s)
        if end <= start:
            continue
        rows.append(
            {
                "start_s": start,
                "end_s": end,
                "emotion": SILENCE_LABEL if segment.silent else (segment.emotion or SILENCE_LABEL),
                "confidence": np.nan if segment.confidence is None else segment.confidence,
                "silent": segment.silent or segment.emotion is None,
                "uncertain": bool(segment.uncertain) and not segment.silent,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def with_pauses(timeline: pd.DataFrame, pauses: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """``timeline`` with every pause (``(start_s, end_s)``, from
    :func:`ser_ui.display_audio.pauses`) drawn as silence: a window is answered whole, but a
    pause inside it was no emotion, and colouring it as one would say it was.

    Returns
    -------
    DataFrame with :func:`timeline_frame`'s columns, spans cut at pause edges, sorted.
    """
    if timeline.empty or not pauses:
        return timeline
    rows = []
    for row in timeline.to_dict("records"):
        start, end = row["start_s"], row["end_s"]
        cuts = sorted({start, end, *(t for p in pauses for t in p if start < t < end)})
        for left, right in pairwise(cuts):
            middle = (left + right) / 2
            paused = any(p_start <= middle < p_end for p_start, p_end in pauses)
            piece = {**row, "start_s": left, "end_s": right}
            if paused:
                piece |= {"emotion": SILENCE_LABEL, "confidence": np.nan, "silent": True,
                          "uncertain": False}  # fmt: skip
            rows.append(piece)
    return pd.DataFrame(rows, columns=timeline.columns)


def merge_runs(timeline: pd.DataFrame) -> pd.DataFrame:
    """Join touching spans of the same emotion (for labels: one word per run, not per window).

    Returns
    -------
    DataFrame with columns ``start_s``, ``end_s``, ``emotion``, ``uncertain`` (a run is
    unsure only if all its spans are).
    """
    runs: list[dict[str, object]] = []
    for row in timeline.itertuples(index=False):
        unsure = bool(getattr(row, "uncertain", False))
        if (
            runs
            and runs[-1]["emotion"] == row.emotion
            and runs[-1]["uncertain"] == unsure
            and np.isclose(runs[-1]["end_s"], row.start_s)
        ):
            runs[-1]["end_s"] = row.end_s
        else:
            runs.append({"start_s": row.start_s, "end_s": row.end_s, "emotion": row.emotion,
                         "uncertain": unsure})  # fmt: skip
    return pd.DataFrame(runs, columns=["start_s", "end_s", "emotion", "uncertain"])


def waveform_figure(audio: DisplayAudio, timeline: pd.DataFrame | None = None) -> Figure:
    """The waveform, tinted by the emotion timeline, with a labelled timeline strip below.

    Parameters
    ----------
    audio
        The decoded clip.
    timeline
        From :func:`timeline_frame`; ``None`` or empty draws the waveform alone.
    """
    has_timeline = timeline is not None and not timeline.empty
    figure = Figure(figsize=(FIGURE_WIDTH_IN, 2.6 if has_timeline else 2.0), dpi=FIGURE_DPI)
    if has_timeline:
        wave_axes, strip_axes = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1], "hspace": 0.08}
        )
    else:
        wave_axes, strip_axes = figure.subplots(1, 1), None
    duration = max(audio.duration_s, 1e-3)
    envelope = waveform_envelope(audio)

    if has_timeline:
        for row in timeline.itertuples(index=False):
            colour, unsure = emotion_colour(row.emotion), bool(getattr(row, "uncertain", False))
            wave_axes.axvspan(
                row.start_s, row.end_s, color=colour,
                alpha=TIMELINE_BACKGROUND_ALPHA * (UNSURE_ALPHA if unsure else 1.0), lw=0,
            )  # fmt: skip
            if unsure:  # pale, hatched in the colour: a best guess, not an answer
                strip_axes.axvspan(row.start_s, row.end_s, facecolor=colour, alpha=UNSURE_ALPHA,
                                   edgecolor="white", hatch=UNSURE_HATCH, lw=0)  # fmt: skip
            else:
                strip_axes.axvspan(row.start_s, row.end_s, color=colour, lw=0)
        for run in merge_runs(timeline).itertuples(index=False):
            if (run.end_s - run.start_s) / duration >= MIN_LABEL_FRACTION:
                dark_text = run.emotion in ("happy", SILENCE_LABEL) or run.uncertain
                strip_axes.text(
                    (run.start_s + run.end_s) / 2,
                    0.5,
                    f"{run.emotion}?" if run.uncertain else run.emotion,
                    ha="center",
                    va="center",
                    fontsize=FONT_SIZE_PT,
                    color="#222222" if dark_text else "white",
                )
        strip_axes.set_yticks([])
        strip_axes.set_ylim(0, 1)
        strip_axes.set_xlabel("time (s)")
        present = list(dict.fromkeys(timeline["emotion"]))
        handles = [Patch(color=emotion_colour(label), label=label) for label in present]
        if "uncertain" in timeline and timeline["uncertain"].any():
            handles.append(Patch(facecolor="#bbbbbb", alpha=UNSURE_ALPHA, hatch=UNSURE_HATCH,
                                 edgecolor="white", label="not sure (best guess?)"))  # fmt: skip
        figure.legend(
            handles=handles,
            loc="upper center",
            ncol=min(len(handles), 8),
            frameon=False,
            fontsize=FONT_SIZE_PT,
        )
    else:
        wave_axes.set_xlabel("time (s)")

    wave_axes.fill_between(
        envelope.times_s, envelope.low, envelope.high, color=WAVEFORM_COLOUR, lw=0.6
    )
    wave_axes.plot(envelope.times_s, envelope.high, color=WAVEFORM_COLOUR, lw=0.4)
    wave_axes.plot(envelope.times_s, envelope.low, color=WAVEFORM_COLOUR, lw=0.4)
    peak = float(
        max(np.max(np.abs(envelope.high), initial=0), np.max(np.abs(envelope.low), initial=0))
    )
    limit = max(peak * 1.1, 1e-3)
    wave_axes.set_ylim(-limit, limit)
    wave_axes.set_xlim(0, duration)
    wave_axes.set_ylabel("amplitude")
    for axes in filter(None, (wave_axes, strip_axes)):
        _style(axes)
    figure.subplots_adjust(
        left=AXES_LEFT, right=AXES_RIGHT, bottom=0.17, top=0.87 if has_timeline else 0.95
    )
    return figure


def spectrogram_figure(audio: DisplayAudio) -> Figure:
    """Log-magnitude spectrogram up to 8 kHz, time axis aligned with :func:`waveform_figure`."""
    result = compute_spectrogram(audio)
    figure = Figure(figsize=(FIGURE_WIDTH_IN, 2.2), dpi=FIGURE_DPI)
    axes = figure.subplots(1, 1)
    figure.subplots_adjust(left=AXES_LEFT, right=AXES_RIGHT, bottom=0.2, top=0.95)
    extent = (
        0.0,
        max(audio.duration_s, float(result.times_s[-1])),
        float(result.frequencies_hz[0]) / 1000,
        float(result.frequencies_hz[-1]) / 1000,
    )
    image = axes.imshow(
        result.power_db,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap="magma",
        interpolation="nearest",
    )
    axes.set_xlim(0, max(audio.duration_s, 1e-3))
    axes.set_xlabel("time (s)")
    axes.set_ylabel("frequency (kHz)")
    _style(axes)
    # A colourbar in its own axes right of the plot, so the plot keeps the waveform's width.
    box = axes.get_position()
    colourbar_axes = figure.add_axes(
        (AXES_RIGHT + COLOURBAR_GAP, box.y0, COLOURBAR_WIDTH, box.height)
    )
    colourbar = figure.colorbar(image, cax=colourbar_axes)
    colourbar.set_label("dB", fontsize=FONT_SIZE_PT)
    colourbar.ax.tick_params(labelsize=FONT_SIZE_PT)
    return figure


# The circumplex's four quadrants (Russell 1980), named by typical emotions, at (valence, arousal).
QUADRANT_LABELS = (
    (-0.5, 0.93, "tense · angry · afraid"),
    (0.5, 0.93, "excited · happy"),
    (-0.5, 0.05, "sad · bored"),
    (0.5, 0.05, "calm · content"),
)
TRAIL_ALPHA = 0.25  # the segments: faint, so the recording's point stands out
PLANE_SIZE_IN = 3.6  # inches: a square next to the bars, readable at half the page width


def affect_plane_figure(prediction: Prediction) -> Figure:
    """The arousal-valence plane (circumplex): x = valence (-1 … 1), y = arousal (0 … 1).

    The recording is one point, coloured by its emotion; its voiced segments, in time
    order, are a faint trail behind it (silent ones have no position and are skipped).
    """
    figure = Figure(figsize=(PLANE_SIZE_IN, PLANE_SIZE_IN), dpi=FIGURE_DPI)
    axes = figure.subplots(1, 1)
    axes.axvline(0.0, color=SILENCE_COLOUR, lw=0.8, zorder=0)
    axes.axhline(0.5, color=SILENCE_COLOUR, lw=0.8, zorder=0)
    for x, y, text in QUADRANT_LABELS:
        axes.text(x, y, text, ha="center", va="center", fontsize=FONT_SIZE_PT - 1, color="#777777")
    trail = [s for s in prediction.segments if s.valence is not None and s.arousal is not None]
    if trail:
        axes.plot(
            [s.valence for s in trail],
            [s.arousal for s in trail],
            color=WAVEFORM_COLOUR,
            alpha=TRAIL_ALPHA,
            lw=0.8,
            marker="o",
            markersize=3,
            label="segments (in time order)",
        )
    axes.scatter(
        [prediction.valence],
        [prediction.arousal],
        s=90,
        color=emotion_colour(prediction.emotion),
        edgecolor=WAVEFORM_COLOUR,
        zorder=3,
        label="whole recording",
    )
    axes.set_xlim(-1.0, 1.0)
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("valence (negative … positive)")
    axes.set_ylabel("arousal (calm … activated)")
    axes.legend(loc="center left", fontsize=FONT_SIZE_PT - 1, frameon=False,
                bbox_to_anchor=(0.0, 0.22))  # fmt: skip
    _style(axes)
    figure.subplots_adjust(left=0.16, right=0.97, bottom=0.13, top=0.97)
    return figure


def _style(axes: Axes) -> None:
    """House look: no top/right frame, the shared font size."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=FONT_SIZE_PT)
    axes.xaxis.label.set_size(FONT_SIZE_PT)
    axes.yaxis.label.set_size(FONT_SIZE_PT)
