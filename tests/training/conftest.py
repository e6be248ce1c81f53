"""Synthesised corpora in each dataset's original naming scheme (no corpus audio needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.audio import harmonic_tone, write_audio

# Emotion → (pitch in Hz, loudness): a learnable toy signal, so a tiny model can beat chance.
TOY_EMOTION_VOICE = {
    "angry": (260.0, 0.9), "disgust": (120.0, 0.5), "fearful": (320.0, 0.4), "happy": (240.0, 0.7),
    "neutral": (150.0, 0.5), "sad": (110.0, 0.2), "surprised": (360.0, 0.8),
}  # fmt: skip
RAVDESS_CODES = {"neutral": "01", "calm": "02", "happy": "03", "sad": "04", "angry": "05",
                 "fearful": "06", "disgust": "07", "surprised": "08"}  # fmt: skip
EMODB_CODES = {
    "angry": "W",
    "disgust": "E",
    "fearful": "A",
    "happy": "F",
    "sad": "T",
    "neutral": "N",
}
TESS_CODES = {"angry": "angry", "disgust": "disgust", "fearful": "fear", "happy": "happy",
              "neutral": "neutral", "sad": "sad", "surprised": "ps"}  # fmt: skip


def toy_voice(emotion: str, seed: int, duration_s: float = 1.2) -> np.ndarray:
    pitch, level = TOY_EMOTION_VOICE[emotion]
    rng = np.random.default_rng(seed)
    tone = harmonic_tone(duration_s, f0_hz=pitch * rng.uniform(0.95, 1.05), seed=seed)
    return (tone * level).astype(np.float32)


def make_ravdess(root: Path, actors=range(1, 9), per_emotion: int = 1, ext: str = ".wav") -> Path:
    seed = 0
    for actor in actors:
        for emotion, code in RAVDESS_CODES.items():
            voice = "neutral" if emotion == "calm" else emotion
            for repetition in range(1, per_emotion + 1):
                seed += 1
                name = f"03-01-{code}-01-01-{repetition:02d}-{actor:02d}{ext}"
                write_audio(root / f"Actor_{actor:02d}" / name, toy_voice(voice, seed))
    return root


def make_emodb(
    root: Path, speakers=("08", "09", "10", "11", "13", "15"), ext: str = ".wav"
) -> Path:
    seed = 1000
    for speaker in speakers:
        for emotion, letter in {**EMODB_CODES, "boredom": "L"}.items():
            seed += 1
            voice = "neutral" if emotion == "boredom" else emotion
            write_audio(root / "wav" / f"{speaker}a01{letter}a{ext}", toy_voice(voice, seed))
    return root


def make_tess(root: Path, per_emotion: int = 2, ext: str = ".wav") -> Path:
    seed = 2000
    for speaker in ("OAF", "YAF"):
        for emotion, code in TESS_CODES.items():
            for word in ["back", "bar", "base", "bath"][:per_emotion]:
                seed += 1
                folder = f"{speaker}_{'pleasant_surprise' if code == 'ps' else code}"
                write_audio(
                    root / folder / f"{speaker}_{word}_{code}{ext}", toy_voice(emotion, seed)
                )
    return root


NEMO_CODES = {"angry": "anger", "fearful": "fear", "happy": "happiness", "neutral": "neutral",
              "sad": "sadness", "surprised": "surprised"}  # fmt: skip


def make_nemo(root: Path, speakers=("EB0", "IC0", "KS0", "MP0", "TP0"), ext: str = ".flac") -> Path:
    """nEMO as in shared/: ``<SPK>/<SPK>_<emotion>_<n>`` (no disgust), without data.tsv."""
    seed = 3000
    for speaker in speakers:
        for emotion, code in NEMO_CODES.items():
            seed += 1
            write_audio(root / speaker / f"{speaker}_{code}_1{ext}", toy_voice(emotion, seed))
    return root


@pytest.fixture(scope="session")
def toy_corpora(tmp_path_factory) -> Path:
    """RAVDESS (.wav), TESS (.flac) and EMO-DB (.wav) side by side, as in shared/datasets."""
    root = tmp_path_factory.mktemp("corpora")
    make_ravdess(root / "ravdess", actors=range(1, 23), per_emotion=1)
    make_tess(root / "tess", ext=".flac")
    make_emodb(root / "emodb")
    return root
