"""Synthesised speech (espeak-ng) and Whisper token decoding, for the genuine-weights tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np

from ser_features import load_audio

ESPEAK = shutil.which("espeak-ng")
ESPEAK_WORDS_PER_MINUTE = 140  # espeak-ng's default 175 is hurried enough to cost tiny.en words


def synthesise(text: str, directory: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng's default English voice, as 16 kHz mono float32."""
    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed")
    path = directory / "speech.wav"
    subprocess.run(
        [ESPEAK, "-s", str(ESPEAK_WORDS_PER_MINUTE), "-w", str(path), text],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return load_audio(path).samples


@cache
def _byte_of_character() -> dict[str, int]:
    """Inverse of GPT-2's byte → printable-character table, which Whisper's BPE tokens use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]  # fmt: skip
    byte_values, characters = list(printable), list(printable)
    for byte in range(256):  # the others map, in order, to the characters from U+0100 on
        if byte not in printable:
            byte_values.append(byte)
            characters.append(256 + len(characters) - len(printable))
    return {chr(c): b for b, c in zip(byte_values, characters, strict=True)}


def tokens_to_text(tokens: list[str]) -> str:
    """Join Whisper's byte-level BPE token strings (as ctranslate2 returns them) into text;
    special tokens (``<|…|>``) are dropped."""
    pieces = "".join(token for token in tokens if not re.fullmatch(r"<\|.*\|>", token))
    return bytes(_byte_of_character()[c] for c in pieces).decode("utf-8", errors="replace")


def normalise(text: str) -> str:
    """Lower case, letters, digits and apostrophes only, single spaces."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())
