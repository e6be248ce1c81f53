"""The feature configuration: everything that decides the numbers fed to the model.

It is frozen, serialises to JSON, and travels inside the exported ONNX model's metadata.
Serving rebuilds the extractor from that JSON and refuses a model whose configuration it
cannot reproduce (unknown version, unknown keys, unknown feature groups).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ser_features.audio import SAMPLE_RATE
from ser_features.whisper_mel import MAX_SAMPLES as WHISPER_MAX_SAMPLES
from ser_features.whisper_mel import MIN_SAMPLES as WHISPER_MIN_SAMPLES
from ser_features.whisper_mel import N_MELS as WHISPER_N_MELS
from ser_features.whisper_mel import SAMPLE_RATE as WHISPER_SAMPLE_RATE
from ser_features.whisper_mel import whisper_frame_count

# Bumped whenever the same config would produce different numbers (a changed formula).
FEATURE_VERSION = 5
# Fields each version added, with the value that reproduces the older version's numbers. An
# older config reads as the current version with these filled in, and may not set them itself.
# Version 2 added ``pad_mode`` (version 1 zero-padded); version 3 added the "pitch" group and
# its parameters, which change nothing for a config that does not ask for the group; version 4
# added ``fft`` (earlier versions computed the spectrum with numpy); version 5 added
# ``front_end`` (earlier versions had the hand-crafted features only).
_ADDED_IN_VERSION: dict[int, dict[str, Any]] = {
    2: {"pad_mode": "zero"},
    3: {"pitch_fmin": 60.0, "pitch_fmax": 500.0, "pitch_frame_length": 1024,
        "pitch_threshold": 0.2},
    4: {"fft": "numpy"},
    5: {"front_end": "handcrafted"},
}  # fmt: skip

FEATURE_GROUPS = ("zcr", "rms", "mfcc", "delta_mfcc", "log_mel", "pitch")
PITCH_COLUMNS = ("f0_semitones", "voicing", "voiced", "delta_f0")
# YIN runs on the window low-passed and decimated to this rate: pitch needs neither the
# 1–8 kHz band nor its cost (a 4× shorter FFT per frame), and with fewer high harmonics the
# difference function is closer to a parabola at its trough: interpolated F0 within ~1 cent.
PITCH_ANALYSIS_RATE = 4_000  # Hz
# Raised-cosine roll-off from pass to stop edge (Hz). A narrower roll-off rings longer: with
# 750–1000 Hz a lone click's ringing 50 ms away still read as voiced.
PITCH_LOWPASS_HZ = (500.0, 1_000.0)
NORMALIZATIONS = ("window", "speech", "none")
PAD_MODES = ("repeat", "zero")
FFT_BACKENDS = ("numpy", "scipy")
# What one window becomes: "handcrafted", the feature groups below, per 10-ms frame;
# "whisper", Whisper's 80-band log-mel (ser_features.whisper_mel), which a pretrained encoder
# inside the model reads. Only the window, silence and padding fields apply to "whisper".
FRONT_ENDS = ("handcrafted", "whisper")


class FeatureConfigError(ValueError):
    """A feature configuration this code cannot reproduce."""


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Parameters of audio → (time × feature) matrices. Times in seconds, sizes in samples."""

    version: int = FEATURE_VERSION
    sample_rate: int = SAMPLE_RATE  # Hz
    window_s: float = 3.0  # length of one model input window
    window_hop_s: float = 1.5  # step between windows of a longer recording (timeline)
    frame_length: int = 400  # samples per analysis frame (25 ms at 16 kHz)
    hop_length: int = 160  # samples between frames (10 ms at 16 kHz)
    n_fft: int = 512  # FFT size; frames are zero-padded up to it
    n_mels: int = 64
    n_mfcc: int = 20
    fmin: float = 20.0  # Hz
    fmax: float = 8_000.0  # Hz
    delta_width: int = 9  # frames in the delta regression window (odd)
    groups: tuple[str, ...] = field(default=("zcr", "rms", "mfcc", "delta_mfcc", "log_mel"))
    # "window": zero mean / unit variance per feature over each window, which removes
    # recording gain and channel colouring; "speech": the same, but the statistics come from
    # the frames of real audio only and fill frames are set to 0, so a short utterance's
    # padding does not change how its speech is scaled; "none": raw values. "speech" is the
    # default since it was measured better on the validation speakers (docs/model.md, "How good is
    # it?"); models exported with "window" name it in their config and keep serving.
    normalization: str = "speech"
    # Leading/trailing frames quieter than (loudest frame − trim_top_db) are trimmed.
    trim_top_db: float = 40.0  # dB
    # A window whose RMS is below this is silence: skipped, never classified. Low on purpose:
    # RAVDESS speech peaks around -29 dBFS (5 % of files below -38), so a quiet microphone
    # 20 dB lower still reaches ~-60 dBFS; -50 refused half of such files as silent.
    silence_dbfs: float = -70.0  # dB relative to full scale
    # How a voiced part shorter than one window fills it: "zero" pads with silence; "repeat"
    # loops the speech so the window holds speech only. Zero padding lets the utterance's length
    # (TESS words ~1.5 s, EMO-DB sentences ~3 s) reach the features, which looked like a corpus
    # cue; but looping (with corpus-balanced weights) measured worse on held-out corpora
    # (docs/model.md), so "zero" stays the default.
    pad_mode: str = "zero"
    # Which library computes the spectrum (float32 both). scipy.fft halves a window's feature
    # time (bench/results/fft_backends.md: numpy 2's float32 FFT is its largest single cost)
    # but its numbers differ (≈ 1e-5) from numpy's, which every model up to feature version 3
    # was trained with; a model is served with the FFT it was trained with.
    fft: str = "numpy"
    # Prosody ("pitch" group, not in the default groups): F0 by YIN on longer frames than the
    # spectral features (a frame must hold two periods at pitch_fmin) but the same hop and
    # centring, so its rows line up with the other groups.
    pitch_fmin: float = 60.0  # Hz: lowest F0 searched (deep male voices)
    pitch_fmax: float = 500.0  # Hz: highest F0 searched (child and high-arousal female voices)
    pitch_frame_length: int = 1024  # samples per YIN frame (64 ms at 16 kHz)
    # A frame is voiced when its cumulative-mean-normalised difference dips below this
    # (dimensionless, 0 = perfectly periodic). The YIN paper's 0.1 called only half of the
    # frames voiced that librosa.pyin calls voiced on EMO-DB/RAVDESS speech (12 files); 0.2
    # raised the agreement from 67 % to 84 % for 4 % → 7 % F0 off by > 50 cents from pyin.
    pitch_threshold: float = 0.2
    front_end: str = "handcrafted"

    def __post_init__(self) -> None:
        if self.version != FEATURE_VERSION:
            raise FeatureConfigError(
                f"feature config version {self.version} is not supported "
                f"(this ser-features implements version {FEATURE_VERSION})"
            )
        object.__setattr__(self, "groups", tuple(self.groups))
        unknown = [g for g in self.groups if g not in FEATURE_GROUPS]
        if unknown or not self.groups:
            raise FeatureConfigError(
                f"unknown or empty feature groups {unknown or list(self.groups)}; "
                f"known: {list(FEATURE_GROUPS)}"
            )
        if self.normalization not in NORMALIZATIONS:
            raise FeatureConfigError(f"normalization must be one of {list(NORMALIZATIONS)}")
        if self.pad_mode not in PAD_MODES:
            raise FeatureConfigError(f"pad_mode must be one of {list(PAD_MODES)}")
        if self.fft not in FFT_BACKENDS:
            raise FeatureConfigError(f"fft must be one of {list(FFT_BACKENDS)}")
        if self.front_end not in FRONT_ENDS:
            raise FeatureConfigError(f"front_end must be one of {list(FRONT_ENDS)}")
        if self.front_end == "whisper" and (
            self.sample_rate != WHISPER_SAMPLE_RATE
            or not WHISPER_MIN_SAMPLES <= self.window_samples <= WHISPER_MAX_SAMPLES
        ):
            raise FeatureConfigError(
                f"the whisper front end needs sample_rate {WHISPER_SAMPLE_RATE} Hz and windows of "
                f"{WHISPER_MIN_SAMPLES / WHISPER_SAMPLE_RATE} to "
                f"{WHISPER_MAX_SAMPLES / WHISPER_SAMPLE_RATE:.0f} s"
            )
        if self.frame_length > self.n_fft:
            raise FeatureConfigError("frame_length must not exceed n_fft")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise FeatureConfigError("delta_width must be an odd number ≥ 3")
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 2:
            raise FeatureConfigError("need 0 < fmin < fmax ≤ sample_rate / 2")
        if self.n_mfcc > self.n_mels:
            raise FeatureConfigError("n_mfcc must not exceed n_mels")
        if self.window_s <= 0 or self.window_hop_s <= 0 or self.hop_length <= 0:
            raise FeatureConfigError("window_s, window_hop_s and hop_length must be positive")
        self._check_pitch()

    def _check_pitch(self) -> None:
        if not 0 < self.pitch_fmin < self.pitch_fmax <= PITCH_LOWPASS_HZ[0]:
            raise FeatureConfigError(
                f"need 0 < pitch_fmin < pitch_fmax ≤ {PITCH_LOWPASS_HZ[0]} Hz "
                "(the pitch analysis low-pass)"
            )
        if not 0 < self.pitch_threshold < 1:
            raise FeatureConfigError("pitch_threshold must be in (0, 1)")
        if "pitch" not in self.groups:
            return  # the framing constraints below matter only where YIN runs
        factor = self.pitch_decimation
        if self.sample_rate % PITCH_ANALYSIS_RATE or any(
            n % factor for n in (self.hop_length, self.pitch_frame_length, self.window_samples)
        ):
            raise FeatureConfigError(
                f"the pitch group needs sample_rate a multiple of {PITCH_ANALYSIS_RATE} Hz and "
                f"hop_length, pitch_frame_length and the window length multiples of {factor}"
            )
        # YIN compares a frame with lagged copies of itself: at the longest period searched
        # (plus one lag for interpolation) the overlap must still span a period.
        longest = (math.ceil(PITCH_ANALYSIS_RATE / self.pitch_fmin) + 1) * factor
        if longest > self.pitch_frame_length // 2:
            raise FeatureConfigError(
                f"pitch_frame_length {self.pitch_frame_length} is too short for pitch_fmin "
                f"{self.pitch_fmin} Hz: it must hold two periods (≥ {2 * longest} samples)"
            )

    @property
    def pitch_decimation(self) -> int:
        """Samples of the input per sample of the pitch analysis."""
        return max(1, self.sample_rate // PITCH_ANALYSIS_RATE)

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sample_rate)

    @property
    def n_frames(self) -> int:
        """Frames per window: centred framing, one frame per hop plus one (hand-crafted);
        Whisper's even frame count (whisper)."""
        if self.front_end == "whisper":
            return whisper_frame_count(self.window_samples)
        return 1 + self.window_samples // self.hop_length

    @property
    def group_sizes(self) -> dict[str, int]:
        sizes = {"zcr": 1, "rms": 1, "mfcc": self.n_mfcc, "delta_mfcc": self.n_mfcc}
        sizes["log_mel"] = self.n_mels
        sizes["pitch"] = len(PITCH_COLUMNS)
        return {g: sizes[g] for g in self.groups}

    @property
    def n_features(self) -> int:
        if self.front_end == "whisper":
            return WHISPER_N_MELS
        return sum(self.group_sizes.values())

    @property
    def input_shape(self) -> tuple[int, int]:
        """Model input shape of one window: (n_frames, n_features)."""
        return (self.n_frames, self.n_features)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["groups"] = list(self.groups)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        version = data.get("version")
        if isinstance(version, int) and 1 <= version < FEATURE_VERSION:
            added = {
                name: value
                for since, fields in _ADDED_IN_VERSION.items()
                if since > version
                for name, value in fields.items()
            }
            if set(added) & set(data):
                raise FeatureConfigError(
                    f"a version-{version} feature config cannot set {sorted(set(added) & set(data))}"
                )
            if version < 3 and "pitch" in data.get("groups", ()):
                raise FeatureConfigError(f"a version-{version} feature config has no pitch group")
            data = {**data, **added, "version": FEATURE_VERSION}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FeatureConfigError(
                f"feature config has keys this ser-features does not know: {unknown}"
            )
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FeatureConfigError(f"feature config is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise FeatureConfigError("feature config JSON must be an object")
        return cls.from_dict(data)
