"""``ser-stream``: a file played into a real ``ser-api`` process prints /predict's windows
(ser_api.stream_client)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ser_api.stream_client import main, send_at
from ser_contract.stream import StreamStart, stream_url
from tests.frontdoor.readme import documents_text
from tests.support.audio import harmonic_tone, write_audio
from tests.ui.live_servers import api_import_problem, live_api

KEY = "s" * 24
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    problem = api_import_problem()
    if problem:
        pytest.skip(problem)
    with live_api(tmp_path_factory.mktemp("stream-cli"), SER_API_KEYS=KEY) as url:
        yield url


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err


def test_a_file_sent_fast_prints_the_predict_timeline(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = write_audio(tmp_path / "speech.wav", harmonic_tone(6.5, seed=3))
    answer = httpx.post(
        f"{api_url}/predict", files={"file": ("s.wav", wav.read_bytes(), "audio/wav")},
        headers={"Authorization": f"Bearer {KEY}"}, timeout=30,
    ).json()  # fmt: skip
    code, lines, err = run(
        [str(wav), "--url", api_url, "--fast", "--api-key", KEY, "--json"], capsys
    )
    assert code == 0, err
    messages = [json.loads(line) for line in lines]
    windows = [m for m in messages if m["event"] == "window"]
    assert messages[0]["event"] == "start" and messages[-1]["event"] == "summary"
    assert [(w["t_start"], w["t_end"]) for w in windows] == [
        (s["start_s"], s["end_s"]) for s in answer["segments"]
    ]
    for window, segment in zip(windows, answer["segments"], strict=True):
        assert window["emotion"] == segment["emotion"]
        assert abs(window["confidence"] - segment["confidence"]) <= TOLERANCE
    assert messages[-1]["emotion"] == answer["emotion"]


def test_real_time_pace_prints_one_line_per_window(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = write_audio(tmp_path / "short.wav", harmonic_tone(1.6, seed=1))
    code, lines, err = run(
        [str(wav), "--url", api_url, "--api-key", KEY, "--chunk-ms", "40"], capsys
    )
    assert code == 0, err
    assert lines[0].strip().startswith("0.00 – ") and "%" in lines[0]
    assert lines[-1].startswith("whole stream (1.60 s, 3 windows)")  # 1-s windows every 0.5 s


def test_a_refused_stream_exits_1_with_the_servers_reason(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = write_audio(tmp_path / "speech.wav", harmonic_tone(1.0))
    code, lines, err = run([str(wav), "--url", api_url], capsys)
    assert code == 1 and lines == []
    assert "1008 unauthorized: this API needs a key" in err


def test_an_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio")
    code, _, err = run([str(notes), "--url", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "cannot read" in err


def test_fast_pace_stays_inside_the_servers_allowance() -> None:
    start = StreamStart(
        model_version="m", labels=["a"], window_s=3, hop_s=1.5, max_speed=4, burst_s=5,
        max_duration_s=60, idle_timeout_s=10,
    )  # fmt: skip
    assert send_at(4.0, start) == 0.0  # inside the burst
    for audio_s in (5.0, 20.0, 300.0):
        elapsed = send_at(audio_s, start)
        assert elapsed > 0 and audio_s < start.burst_s + start.max_speed * elapsed
    assert send_at(7.5, None) == 7.5  # real time


def test_the_stream_url_follows_the_api_url() -> None:
    assert (
        stream_url("http://h:8000/", sample_rate=16000, encoding="f32le")
        == "ws://h:8000/stream?sample_rate=16000&encoding=f32le"
    )
    assert stream_url("https://h") == "wss://h/stream"


CLIENT_BLOCK = re.compile(
    r"<!-- stream-client -->\n```python\n(.*?)```\n<!-- /stream-client -->", re.S
)


def test_the_documented_python_client_prints_windows_and_the_summary(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    match = CLIENT_BLOCK.search(documents_text())
    assert match, "no document has a <!-- stream-client --> Python block (docs/stream.md)"
    code = match.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10  # ten lines
    wav = write_audio(tmp_path / "speech.wav", harmonic_tone(2.5, seed=2))
    with live_api(tmp_path_factory.mktemp("readme-client")) as url:  # no key: as written
        host = url.removeprefix("http://")
        exec(code.replace('"speech.wav"', repr(str(wav))).replace("127.0.0.1:8000", host), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("{'event': 'start'")
    assert printed[-1].startswith("{'event': 'summary'")
    assert sum(line.startswith("{'event': 'window'") for line in printed) == 4  # 1-s windows
