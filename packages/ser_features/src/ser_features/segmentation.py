"""Cutting an utterance into fixed-length model windows.

Training and serving share this: leading/trailing silence is trimmed, the voiced part is cut
into windows of ``window_s`` every ``window_hop_s`` (the last one aligned to the end so no
speech is dropped), a part shorter than one window is filled up to it (looped or zero-padded,
as ``pad_mode`` says), and windows
whose energy is below ``silence_dbfs`` are flagged silent so they are never classified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser_features.config import FeatureConfig
from ser_features.silence import is_silent_window

TRIM_FRAME = 1024  # samples (64 ms at 16 kHz) per energy frame when trimming
TRIM_HOP = 256  # samples (16 ms at 16 kHz)
# samples: numpy's pairwise summation adds a contiguous row in leaves of 128 and joins them
# as a balanced tree; frame_power rebuilds exactly that tree from 128-sample block sums.
SUM_BLOCK = 128
DB_FLOOR = -120.0  # dBFS reported for digital silence


@dataclass(frozen=True, slots=True)
class Window:
    """One model window cut from a recording."""

    start_s: float  # position in the original recording, seconds
    end_s: float  # end of the real (unpadded) audio in this window, seconds
    samples: np.ndarray  # shape (config.window_samples,), float32, filled per config.pad_mode
    n_audio: int  # leading samples of ``samples`` that hold audio; the rest is zero padding
    rms_dbfs: float  # energy of the real audio in the window, dB re full scale
    silent: bool  # rms_dbfs below config.silence_dbfs: skip, do not classify


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (a full-scale sine is −3 dBFS)."""
    if samples.size == 0:
        return DB_FLOOR
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(DB_FLOOR, float(20.0 * np.log10(rms))) if rms > 0 else DB_FLOOR


def frame_power(samples: np.ndarray) -> np.ndarray:
    """Mean square of each centred TRIM_FRAME frame every TRIM_HOP samples, float64.

    The same numbers as ``np.mean(np.square(frame_signal(samples, TRIM_FRAME, TRIM_HOP),
    dtype=np.float64), axis=1)`` (checked bit for bit in the tests) without squaring every
    sample four times: each 128-sample block is summed once and a frame's eight blocks are
    joined in the tree numpy's pairwise summation uses for a 1024-value row.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,), n_samples ≥ 1

    Returns
    -------
    np.ndarray, shape (1 + n_samples // TRIM_HOP,)
    """
    pad = TRIM_FRAME // 2
    padded = np.pad(samples, (pad, pad), mode="reflect" if len(samples) > pad else "constant")
    n_frames = 1 + len(samples) // TRIM_HOP
    step = TRIM_HOP // SUM_BLOCK
    per_frame = TRIM_FRAME // SUM_BLOCK
    n_blocks = max(-(-len(padded) // SUM_BLOCK), step * (n_frames - 1) + per_frame)
    squares = np.zeros(n_blocks * SUM_BLOCK, np.float64)
    squares[: len(padded)] = np.square(padded, dtype=np.float64)
    block_sums = squares.reshape(n_blocks, SUM_BLOCK).sum(axis=1)
    leaves = [block_sums[j : j + step * (n_frames - 1) + 1 : step] for j in range(per_frame)]
    while len(leaves) > 1:  # pairwise, as numpy joins the halves of a row
        leaves = [leaves[i] + leaves[i + 1] for i in range(0, len(leaves), 2)]
    return leaves[0] / TRIM_FRAME


def voiced_bounds(samples: np.ndarray, config: FeatureConfig) -> tuple[int, int]:
    """Sample indices [start, end) spanning every frame within ``trim_top_db`` of the loudest.

    Frames are also required to exceed ``silence_dbfs``, so room noise in a quiet file is not
    taken for speech. Returns (0, 0) when nothing qualifies.
    """
    if samples.size == 0:
        return 0, 0
    power = frame_power(samples)
    level_db = 10.0 * np.log10(np.maximum(power, 1e-12))
    threshold = max(level_db.max() - config.trim_top_db, config.silence_dbfs)
    loud = np.flatnonzero(level_db > threshold)
    if loud.size == 0:
        return 0, 0
    # Frame i is centred on sample i * hop; extend by half a frame each side.
    start = max(0, loud[0] * TRIM_HOP - TRIM_FRAME // 2)
    end = min(len(samples), loud[-1] * TRIM_HOP + TRIM_FRAME // 2)
    return int(start), int(end)


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start offsets covering [0, n_samples) with windows of ``window`` every ``hop``.

    The last window is aligned to the end so the tail is never dropped.
    """
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def max_windows(duration_s: float, config: FeatureConfig) -> int:
    """The most windows :func:`split_windows` cuts from ``duration_s`` seconds of audio
    (trimming silence only lowers it): a recording's encoder work, known from its header."""
    size = config.window_samples
    hop = max(1, round(config.window_hop_s * config.sample_rate))
    n_samples = max(0, round(duration_s * config.sample_rate))
    if n_samples <= size:
        return 1
    full = (n_samples - size) // hop + 1  # window_starts without building the list
    return full + int((full - 1) * hop + size < n_samples)


def fill_window(chunk: np.ndarray, size: int, pad_mode: str) -> np.ndarray:
    """``chunk`` brought to exactly ``size`` samples (float32).

    "repeat" loops the audio end to start; "zero" appends silence. Longer chunks are cut.
    """
    filled = np.zeros(size, dtype=np.float32)
    if len(chunk) == 0:
        return filled
    if pad_mode == "repeat":
        repeats = -(-size // len(chunk))  # ceiling division
        return np.tile(chunk.astype(np.float32, copy=False), repeats)[:size]
    filled[: min(len(chunk), size)] = chunk[:size]
    return filled


def split_windows(samples: np.ndarray, config: FeatureConfig, *, trim: bool = True) -> list[Window]:
    """Cut a recording into model windows.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,), float32 at config.sample_rate
    trim : bool
        Trim leading/trailing silence first (times stay relative to the original recording).

    Returns
    -------
    list[Window]
        At least one window; all silent if the recording has no voiced part.
    """
    rate = config.sample_rate
    size = config.window_samples
    hop = max(1, round(config.window_hop_s * rate))
    start, end = voiced_bounds(samples, config) if trim else (0, len(samples))
    if end <= start:  # nothing voiced: one silent window over the whole recording
        start, end = 0, len(samples)
    voiced = samples[start:end]
    windows = []
    for offset in window_starts(len(voiced), size, hop):
        chunk = voiced[offset : offset + size]
        level = rms_dbfs(chunk)
        padded = fill_window(chunk, size, config.pad_mode)
        windows.append(
            Window(
                start_s=(start + offset) / rate,
                end_s=(start + offset + len(chunk)) / rate,
                samples=padded,
                n_audio=size if config.pad_mode == "repeat" else len(chunk),
                rms_dbfs=level,
                silent=is_silent_window(level, config.silence_dbfs),
            )
        )
    return windows
