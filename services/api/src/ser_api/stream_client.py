"""``ser-stream FILE``: play a recording into ``WS /stream`` and print each window's emotion.

The file is decoded like an upload (``ser_features.load_audio``: any format the API reads,
mixed to mono, at the model's 16 kHz) and sent as ``f32le`` frames, by default at real-time
pace, as a microphone would; ``--fast`` sends as fast as the server allows (its
``max_speed`` × real time after its ``burst_s``, both from the stream's first message).
Exit status: 0 after the summary, 1 when the server closed the stream otherwise (its reason
on stderr), 2 for a file it cannot read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from ser_contract.stream import DONE, END_EVENT, StreamStart, stream_url
from ser_features import SAMPLE_RATE, AudioError, load_audio

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CHUNK_MS = 100  # ms of audio per frame: 10 frames/s, a browser sends 20–50
# Share of the server's allowance --fast uses: its clock started a little before ours.
FAST_MARGIN = 0.9
OPEN_TIMEOUT_S = 10.0  # s for the connection and the server's first message


def send_at(audio_s: float, start: StreamStart | None) -> float:
    """Seconds after the stream opened at which audio up to ``audio_s`` may be sent:
    real time, or (``start`` given, i.e. ``--fast``) within the server's pace allowance."""
    if start is None:
        return audio_s
    allowance = FAST_MARGIN * start.burst_s
    return max(0.0, (audio_s - allowance) / (FAST_MARGIN * start.max_speed))


def frames(samples: np.ndarray, chunk: int) -> Iterator[tuple[float, bytes]]:
    """(seconds of audio after this frame, the frame as f32le bytes) for each chunk."""
    for at in range(0, len(samples), chunk):
        piece = samples[at : at + chunk]
        yield (at + len(piece)) / SAMPLE_RATE, piece.astype("<f4").tobytes()


def describe(message: dict) -> str:
    """One printed line for a window or summary message."""
    if message["event"] == "summary":
        head = f"whole stream ({message['duration_s']:.2f} s, {message['windows']} windows)"
    else:
        head = f"{message['t_start']:7.2f} – {message['t_end']:7.2f} s"
    if message["silent"]:
        return f"{head}  silent"
    answer = f"{message['emotion']} {100 * message['confidence']:.0f} %"
    if message["uncertain"]:
        answer = f"not sure, best guess {answer}"
    return (
        f"{head}  {answer}  (arousal {message['arousal']:.2f}, valence {message['valence']:+.2f})"
    )


def _receive_all(ws: ClientConnection, as_json: bool, summary: list[dict]) -> None:
    try:
        for text in ws:
            message = json.loads(text)
            print(json.dumps(message) if as_json else describe(message), flush=True)
            if message["event"] == "summary":
                summary.append(message)
    except ConnectionClosed:
        pass


def play(
    path: Path, url: str, *, fast: bool, chunk_ms: int, api_key: str | None, as_json: bool
) -> int:
    """Stream ``path`` to ``url`` (the API's base URL); the exit status."""
    try:
        samples = load_audio(path).samples  # mono float32 at SAMPLE_RATE
    except (AudioError, OSError) as error:
        print(f"ser-stream: cannot read {path}: {error}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    summary: list[dict] = []
    try:
        ws = connect(
            stream_url(url, sample_rate=SAMPLE_RATE, encoding="f32le"),
            additional_headers=headers,
            open_timeout=OPEN_TIMEOUT_S,
        )
    except (OSError, TimeoutError, InvalidHandshake) as error:
        print(f"ser-stream: cannot reach {url}: {error}", file=sys.stderr)
        return 1
    with ws:
        try:
            start = StreamStart.model_validate_json(ws.recv(timeout=OPEN_TIMEOUT_S))
        except ConnectionClosed:
            start = None
        if start is not None:
            if as_json:
                print(start.model_dump_json(), flush=True)
            receiver = threading.Thread(target=_receive_all, args=(ws, as_json, summary))
            receiver.start()
            opened = time.monotonic()
            try:
                chunk = max(1, round(chunk_ms * SAMPLE_RATE / 1000))
                for audio_s, frame in frames(samples, chunk):
                    delay = opened + send_at(audio_s, start if fast else None) - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    ws.send(frame)
                ws.send(json.dumps({"event": END_EVENT}))
            except ConnectionClosed:
                pass  # the server closed it: its code and reason are reported below
            receiver.join()
    code, reason = ws.close_code, ws.close_reason
    if summary and code == DONE.code:
        return 0
    print(f"ser-stream: the server closed the stream: {code} {reason}", file=sys.stderr)
    return 1


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ser-stream",
        description="Send a recording to the API's live stream (WS /stream) at real-time pace "
        "and print the emotion of each window as it arrives, then the whole stream's.",
    )
    parser.add_argument("file", type=Path, help="any recording the API accepts (WAV, FLAC, …)")
    parser.add_argument(
        "--url",
        default=os.environ.get("SER_API_URL", DEFAULT_URL),
        help="the API's base URL (default: $SER_API_URL or %(default)s)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="send as fast as the server allows instead of at real-time pace",
    )
    parser.add_argument(
        "--chunk-ms",
        type=int,
        default=DEFAULT_CHUNK_MS,
        help="milliseconds of audio per frame (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("SER_API_KEY"),
        help="sent as 'Authorization: Bearer' (default: $SER_API_KEY)",
    )
    parser.add_argument("--json", action="store_true", help="print the messages as JSON lines")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = argument_parser().parse_args(argv)
    if args.chunk_ms < 1:
        argument_parser().error("--chunk-ms must be at least 1")
    raise SystemExit(
        play(
            args.file,
            args.url,
            fast=args.fast,
            chunk_ms=args.chunk_ms,
            api_key=args.api_key,
            as_json=args.json,
        )
    )


if __name__ == "__main__":
    main()
