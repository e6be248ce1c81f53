"""Standard-library-only helper for run_compose_e2e.sh (no numpy, no project packages), so it
runs with any Python 3: the host's, or the one inside the API image.

  python e2e_client.py wav OUT.wav                 a 2-second 16 kHz speech-like tone
  python e2e_client.py dataset DIR                 a tiny corpus, DIR/ravdess/Actor_NN/*.wav (56 files)
  python e2e_client.py archive DIR                 an archive for ser-batch: 3 good WAVs (one in a
                                                   sub-folder), a broken and a silent one
  python e2e_client.py predict URL WAV             POST WAV as multipart field "file"; check JSON
  python e2e_client.py get URL                     expect 200
  python e2e_client.py wait URL SECONDS            poll until 200 or time runs out

Exit status 0 on success; a one-line reason on stderr otherwise.
"""

from __future__ import annotations

import json
import math
import random
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
import wave
from pathlib import Path

RATE = 16_000  # Hz

# RAVDESS emotion codes used for the synthetic corpus (02 calm is left out: it maps to neutral).
RAVDESS_EMOTIONS = {
    "01": 110.0,
    "03": 180.0,
    "04": 95.0,
    "05": 220.0,
    "06": 260.0,
    "07": 130.0,
    "08": 300.0,
}
# Test (01, 02), validation (05, 06) and training (03, 04, 07, 08) actors of the fixed split.
ACTORS = ("01", "02", "03", "04", "05", "06", "07", "08")


def tone(f0: float, seconds: float, seed: int) -> list[float]:
    """A vowel-like harmonic tone with vibrato, fades and a little noise; peak about 0.5."""
    rng = random.Random(seed)
    n = int(seconds * RATE)
    out, phase = [], 0.0
    for i in range(n):
        t = i / RATE
        f = f0 * (1 + 0.1 * t / seconds) * (1 + 0.02 * math.sin(2 * math.pi * 5 * t))
        phase += 2 * math.pi * f / RATE
        s = sum(math.sin(k * phase) / k for k in range(1, 6))
        fade = min(1.0, t / 0.05, (seconds - t) / 0.05)
        out.append(0.25 * fade * s + 0.005 * rng.gauss(0, 1))
    return out


def write_wav(path: Path, samples: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(max(-1, min(1, s)) * 32767)) for s in samples))


def make_dataset(root: Path) -> int:
    count = 0
    for a, actor in enumerate(ACTORS):
        for code, f0 in RAVDESS_EMOTIONS.items():
            name = f"03-01-{code}-01-01-01-{actor}.wav"
            write_wav(
                root / "ravdess" / f"Actor_{actor}" / name,
                tone(f0 * (1 + 0.03 * a), 1.5, seed=count),
            )
            count += 1
    return count


def make_archive(root: Path) -> int:
    """Files whose outcome is known: 3 classified, 1 undecodable, 1 silent."""
    for i, f0 in enumerate((120.0, 180.0, 240.0)):
        write_wav(root / ("calls" if i == 2 else "") / f"call{i}.wav", tone(f0, 2.0, seed=i))
    (root / "broken.wav").write_bytes(b"RIFF this is not a wave file")
    write_wav(root / "silent.wav", [0.0] * RATE)
    return 5


def multipart(field: str, files: list[tuple[str, bytes]], content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body with each (filename, data) of ``files`` in form ``field``,
    and its Content-Type header."""
    boundary = uuid.uuid4().hex
    parts = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
        for filename, data in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def predict(url: str, wav: Path) -> None:
    body, ctype = multipart("file", [(wav.name, wav.read_bytes())], "audio/wav")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            result = json.load(response)
    except urllib.error.HTTPError as e:
        sys.exit(f"POST {url}: HTTP {e.code}: {e.read()[:300]!r}")
    emotion, probabilities = result.get("emotion"), result.get("probabilities") or {}
    if not isinstance(emotion, str) or emotion not in probabilities:
        sys.exit(f"POST {url}: no emotion among the probabilities in {json.dumps(result)[:300]}")
    if abs(sum(probabilities.values()) - 1) > 1e-3:
        sys.exit(f"POST {url}: probabilities sum to {sum(probabilities.values())}")
    print(
        f"emotion={emotion} confidence={result.get('confidence')} "
        f"model_version={result.get('model_version')}"
    )


def enrol(api: str, wav: Path, kind: str = "speakers") -> None:
    """POST /speakers (or /domains) with the clip twice (two files); prints the new id."""
    data = wav.read_bytes()
    body, ctype = multipart("files", [("one.wav", data), ("two.wav", data)], "audio/wav")
    request = urllib.request.Request(f"{api}/{kind}", data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, result = response.status, json.load(response)
    except urllib.error.HTTPError as e:
        sys.exit(f"POST {api}/{kind}: HTTP {e.code}: {e.read()[:300]!r}")
    if status != 201 or result.get("clips") != 2:
        sys.exit(f"POST {api}/{kind}: {status} {json.dumps(result)[:300]}")
    print(result["speaker" if kind == "speakers" else "domain"])


def profile(api: str, profile_id: str, expected: int, kind: str = "speakers") -> None:
    """GET /speakers/{id} (or /domains/{id}) must answer ``expected`` (200 while it exists,
    404 once deleted)."""
    try:
        with urllib.request.urlopen(f"{api}/{kind}/{profile_id}", timeout=10) as response:
            status, body = response.status, response.read(200)
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read(200)
    if status != expected:
        sys.exit(f"GET {api}/{kind}/{profile_id}: {status}, expected {expected}: {body!r}")
    print(f"GET /{kind}/{profile_id}: {status} {body!r}")


def delete(api: str, profile_id: str, kind: str = "speakers") -> None:
    request = urllib.request.Request(f"{api}/{kind}/{profile_id}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    if status != 204:
        sys.exit(f"DELETE {api}/{kind}/{profile_id}: {status}, expected 204")
    print(f"DELETE /{kind}/{profile_id}: 204")


def get(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            print(f"GET {url}: {response.status} {response.read(80)!r}")
    except (urllib.error.URLError, OSError) as e:
        sys.exit(f"GET {url}: {e}")


def wait(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError) as e:
            if time.monotonic() > deadline:
                sys.exit(f"GET {url}: not ready after {seconds:.0f} s: {e}")
            time.sleep(1)


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "wav":
        write_wav(Path(args[0]), tone(160.0, 2.0, seed=1))
    elif command == "archive":
        print(f"{make_archive(Path(args[0]))} files")
    elif command == "dataset":
        print(f"{make_dataset(Path(args[0]))} files")
    elif command == "predict":
        predict(args[0], Path(args[1]))
    elif command == "enrol":  # API WAV [speakers|domains]
        enrol(args[0], Path(args[1]), *args[2:])
    elif command == "speaker":  # API ID STATUS [speakers|domains]
        profile(args[0], args[1], int(args[2]), *args[3:])
    elif command == "delete":  # API ID [speakers|domains]
        delete(args[0], args[1], *args[2:])
    elif command == "get":
        get(args[0])
    elif command == "wait":
        wait(args[0], float(args[1]))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
