"""The Live view's component is configured for the browser's way to the API (ser_ui.live);
what it does in a browser is tests/ui/test_browser.py's live test."""

from __future__ import annotations

import json
import re

from ser_ui import live
from ser_ui.charts import EMOTION_COLOURS, emotion_colour


def config_of(html: str) -> dict:
    match = re.search(r"const CONFIG = (\{.*?\});\n", html)
    assert match, "the page holds no configuration"
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_the_page_streams_to_the_api_with_the_charts_colours() -> None:
    html = live.live_html("http://127.0.0.1:8000/", ["happy", "calm"], hop_s=1.5)
    config = config_of(html)
    assert config["url"] == "ws://127.0.0.1:8000/stream"
    assert config["colours"]["happy"] == EMOTION_COLOURS["happy"]
    assert config["colours"]["calm"] == emotion_colour("calm")  # a label the map lacks
    assert config["seconds_shown"] == live.WINDOWS_SHOWN * 1.5
    assert "__CONFIG__" not in html


def test_the_key_travels_in_the_query_and_cannot_end_the_script() -> None:
    html = live.live_html("https://api.example", ["sad"], 1.5, api_key="k</script>ey" * 2)
    assert "</script>ey" not in html  # escaped inside the JSON
    assert config_of(html)["url"] == (
        "wss://api.example/stream?api_key=k%3C%2Fscript%3Eeyk%3C%2Fscript%3Eey"
    )


def test_the_public_url_overrides_the_servers_own() -> None:
    assert live.public_api_url("http://api:8000", {}) == "http://api:8000"
    environ = {live.PUBLIC_API_URL_ENV: " http://127.0.0.1:8000/ "}
    assert live.public_api_url("http://api:8000", environ) == "http://127.0.0.1:8000"
