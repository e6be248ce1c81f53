"""Frame-level features of one window: ZCR, RMS energy, MFCC, delta-MFCC, log-mel.

Pure numpy. The mel filterbank, DCT matrix and analysis window are built once per
:class:`FeatureExtractor`, so a call costs two matrix products and one batched FFT
(about 1 ms for a 3-second window). Formulas follow librosa's conventions (Slaney mel scale
and area normalisation, power_to_db with an 80 dB floor, orthonormal DCT-II); the tests
compare against librosa, which this module does not import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ser_features.config import FeatureConfig

AMIN_POWER = 1e-20  # power floor before log (−200 dB): far below the relative TOP_DB floor
TOP_DB = 80.0  # dB: log-mel and RMS values are floored at (max − TOP_DB) per window
AMIN_RMS = 1e-10  # linear RMS floor before log (−200 dB): likewise
NORM_EPSILON = 1e-5  # added to the standard deviation in per-window normalisation


def hz_to_mel(frequency_hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    frequency_hz = np.asarray(frequency_hz, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, log_step = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    mel = frequency_hz / f_sp
    above = frequency_hz >= min_log_hz
    return np.where(
        above,
        min_log_mel + np.log(np.maximum(frequency_hz, min_log_hz) / min_log_hz) / log_step,
        mel,
    )


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, log_step = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(
        mel >= min_log_mel, min_log_hz * np.exp(log_step * (mel - min_log_mel)), f_sp * mel
    )


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation.

    Returns
    -------
    np.ndarray, shape (n_mels, n_fft // 2 + 1), float64
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    return weights


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II basis, so that ``mfcc = log_mel @ dct.T``.

    Returns
    -------
    np.ndarray, shape (n_mfcc, n_mels), float64
    """
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    basis = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    return basis


def frame_signal(samples: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Centred framing: pad by frame_length // 2 on both sides (reflect), then slide.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)

    Returns
    -------
    np.ndarray, shape (1 + n_samples // hop_length, frame_length), a read-only view
    """
    pad = frame_length // 2
    mode = "reflect" if len(samples) > pad else "constant"
    padded = np.pad(samples, (pad, pad), mode=mode)
    n_frames = 1 + len(samples) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    return frames[:n_frames]


def delta(features: np.ndarray, width: int) -> np.ndarray:
    """First-order regression deltas along time, edges repeated.

    Parameters
    ----------
    features : np.ndarray, shape (n_frames, n_coefficients)
    width : int, odd number of frames in the regression window

    Returns
    -------
    np.ndarray, same shape as ``features``
    """
    half = width // 2
    padded = np.pad(features, ((half, half), (0, 0)), mode="edge")
    n_frames = features.shape[0]
    numerator = np.zeros_like(features)
    for offset in range(1, half + 1):
        numerator += offset * (
            padded[half + offset : half + offset + n_frames]
            - padded[half - offset : half - offset + n_frames]
        )
    return numerator / (2.0 * sum(o * o for o in range(1, half + 1)))


class FeatureExtractor:
    """Computes the (n_frames, n_features) matrix of one window for a fixed config.

    Thread-safe: it holds only read-only precomputed matrices.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self._mel_basis = mel_filterbank(
            config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax
        ).T.astype(np.float32)  # (n_fft // 2 + 1, n_mels)
        self._dct = dct_matrix(config.n_mfcc, config.n_mels).T.astype(
            np.float32
        )  # (n_mels, n_mfcc)
        # Periodic Hann, as used for spectral analysis (matches scipy/librosa get_window).
        n = np.arange(config.frame_length)
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * n / config.frame_length)).astype(np.float32)

    def window_features(self, window: np.ndarray, n_audio: int | None = None) -> np.ndarray:
        """Features of one window of exactly ``config.window_samples`` samples.

        Parameters
        ----------
        window : np.ndarray, shape (config.window_samples,), float32, at config.sample_rate
        n_audio : int, optional
            Leading samples that hold audio, the rest being zero padding (default: all).
            Only ``normalization="speech"`` uses it.

        Returns
        -------
        np.ndarray, shape config.input_shape == (n_frames, n_features), float32
        """
        config = self.config
        if window.shape != (config.window_samples,):
            raise ValueError(
                f"expected a window of shape ({config.window_samples},), got {window.shape}"
            )
        frames = frame_signal(
            window.astype(np.float32, copy=False), config.frame_length, config.hop_length
        )
        columns: dict[str, np.ndarray] = {}
        groups = set(config.groups)
        if "zcr" in groups:
            signs = np.signbit(frames)
            columns["zcr"] = np.mean(signs[:, 1:] != signs[:, :-1], axis=1, keepdims=True)
        if "rms" in groups:
            rms = np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=1, keepdims=True))
            rms_db = 20.0 * np.log10(np.maximum(rms, AMIN_RMS))
            # Floor relative to the loudest frame, like log-mel: an absolute floor would make
            # zero-padding look different at different recording gains.
            columns["rms"] = np.maximum(rms_db, rms_db.max() - TOP_DB)
        if groups & {"mfcc", "delta_mfcc", "log_mel"}:
            spectrum = np.fft.rfft(frames * self._window, n=config.n_fft, axis=1)
            power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
            log_mel = 10.0 * np.log10(np.maximum(power @ self._mel_basis, AMIN_POWER))
            log_mel = np.maximum(log_mel, log_mel.max() - TOP_DB)
            columns["log_mel"] = log_mel
            if groups & {"mfcc", "delta_mfcc"}:
                mfcc = log_mel @ self._dct
                columns["mfcc"] = mfcc
                if "delta_mfcc" in groups:
                    columns["delta_mfcc"] = delta(mfcc, config.delta_width)
        matrix = np.concatenate([columns[g] for g in config.groups], axis=1).astype(np.float32)
        if config.normalization == "window":
            matrix = (matrix - matrix.mean(axis=0)) / (matrix.std(axis=0) + NORM_EPSILON)
        elif config.normalization == "speech":
            n_speech = self.audio_frames(config.window_samples if n_audio is None else n_audio)
            speech = matrix[:n_speech]
            matrix = (matrix - speech.mean(axis=0)) / (speech.std(axis=0) + NORM_EPSILON)
            matrix[n_speech:] = 0.0  # padding carries no information: the mean after scaling
        return matrix.astype(np.float32, copy=False)

    def audio_frames(self, n_audio: int) -> int:
        """Frames of a window centred within its first ``n_audio`` samples (end included)."""
        if not 0 <= n_audio <= self.config.window_samples:
            raise ValueError(f"n_audio must be in [0, {self.config.window_samples}], got {n_audio}")
        hop = self.config.hop_length
        return min(self.config.n_frames, 1 + n_audio // hop)

    def batch_features(
        self, windows: np.ndarray, n_audio: Sequence[int] | None = None
    ) -> np.ndarray:
        """Features of several windows.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, config.window_samples)
        n_audio : sequence of int, length n_windows, optional
            Per window, the leading samples that hold audio (see :meth:`window_features`).

        Returns
        -------
        np.ndarray, shape (n_windows, n_frames, n_features), float32
        """
        if len(windows) == 0:
            return np.zeros((0, *self.config.input_shape), dtype=np.float32)
        if n_audio is None:
            n_audio = [None] * len(windows)
        elif len(n_audio) != len(windows):
            raise ValueError(f"{len(windows)} windows but {len(n_audio)} n_audio values")
        return np.stack([self.window_features(w, n) for w, n in zip(windows, n_audio, strict=True)])
