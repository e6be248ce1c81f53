"""The Live view: the browser's microphone → the API's ``WS /stream`` → a rolling chart.

Streamlit reruns a script per interaction and cannot carry a stream of audio, so the view is
one small HTML component (``live.html``) that runs in the browser: it opens the microphone,
sends 16-kHz float frames to the API's stream and draws each window's answer as it arrives.
This module only fills in where the browser finds the API and what the chart shows.

The browser, not this server, connects to the API: ``SER_UI_PUBLIC_API_URL`` is the API's
address as the viewer's browser reaches it (default: ``SER_API_URL``, right for ``make run``;
in a container network set it to the published address). When the API needs a key, the key
the web app holds goes into the page (query ``api_key``): whoever opens the web app can
already use the API through it, but can now read the key too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources

from ser_contract.stream import stream_url
from ser_ui.charts import EMOTION_COLOURS, FALLBACK_COLOURS, SILENCE_COLOUR, emotion_colour

PUBLIC_API_URL_ENV = "SER_UI_PUBLIC_API_URL"
# The rolling chart shows this many hops of history: 30 s for 1.5-s hops, and bars wide
# enough for their label.
WINDOWS_SHOWN = 20
COMPONENT_HEIGHT_PX = 300
_TEMPLATE = "live.html"
_PLACEHOLDER = "__CONFIG__"


def public_api_url(api_url: str, environ: Mapping[str, str] | None = None) -> str:
    """Where the viewer's browser reaches the API: ``SER_UI_PUBLIC_API_URL``, else ``api_url``."""
    environ = os.environ if environ is None else environ
    return (environ.get(PUBLIC_API_URL_ENV, "").strip() or api_url).rstrip("/")


def live_html(api_url: str, labels: list[str], hop_s: float, api_key: str | None = None) -> str:
    """The component's page, configured for the API at ``api_url`` (as the browser sees it).

    Parameters
    ----------
    labels : the model's labels (each gets the colour it has on every other chart)
    hop_s : seconds between windows (GET /model ``feature_config.window_hop_s``): bar width
    api_key : sent as the query parameter ``api_key`` when the API needs one
    """
    query = {"api_key": api_key} if api_key else {}
    config = {
        "url": stream_url(api_url, **query),
        "colours": {label: emotion_colour(label) for label in labels} | EMOTION_COLOURS,
        "fallback_colour": FALLBACK_COLOURS[0],
        "silence_colour": SILENCE_COLOUR,
        "hop_s": hop_s,
        "seconds_shown": WINDOWS_SHOWN * hop_s,
    }
    # </script> inside a JSON string would end the script element early.
    text = json.dumps(config).replace("</", "<\\/")
    template = resources.files("ser_ui").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    if template.count(_PLACEHOLDER) != 1:  # a second one (in a comment) broke the script once
        raise RuntimeError(f"{_TEMPLATE} must hold {_PLACEHOLDER} exactly once")
    return template.replace(_PLACEHOLDER, text)
