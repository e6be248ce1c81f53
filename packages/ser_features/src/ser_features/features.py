"""Frame-level features of one window: ZCR, RMS energy, MFCC, delta-MFCC, log-mel, pitch.

Pure numpy. The mel filterbank, DCT matrix and analysis window are built once per
:class:`FeatureExtractor`, so a call costs two matrix products and one batched FFT
(about 1 ms for a 3-second window). Formulas follow librosa's conventions (Slaney mel scale
and area normalisation, power_to_db with an 80 dB floor, orthonormal DCT-II); the tests
compare against librosa, which this module does not import. Pitch is YIN (de Cheveigné &
Kawahara 2002) on the window decimated to 4 kHz, checked against ``librosa.yin`` and the true
F0 in the tests; the group adds one long and one batched FFT and a matrix product, about as
much again as the other groups (+2.0 ms of CPU per 3-second window against 1.8 ms, measured on
the busy 2-core development machine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ser_features.config import PITCH_LOWPASS_HZ, FeatureConfig, FeatureConfigError
from ser_features.mel import mel_filterbank
from ser_features.whisper_mel import whisper_log_mel

AMIN_POWER = 1e-20  # power floor before log (−200 dB): far below the relative TOP_DB floor
TOP_DB = 80.0  # dB: log-mel and RMS values are floored at (max − TOP_DB) per window
AMIN_RMS = 1e-10  # linear RMS floor before log (−200 dB): likewise
NORM_EPSILON = 1e-5  # added to the standard deviation in per-window normalisation
SEMITONES_PER_OCTAVE = 12.0
FFT_BLOCK = 1_024  # samples: the decimation FFT is a multiple of this (2^k · small factors)
DECIMATION_MARGIN = 256  # samples after decimation (64 ms at 4 kHz) of zero padding
# dB: frames this far below the window's loudest are aperiodic for YIN. Stricter than TOP_DB:
# the decimation low-pass rings ~72 dB below a click 8 ms away, periodically enough to pass
# the trough threshold, while a voice 60 dB under the loudest frame is lost in any real noise.
PITCH_TOP_DB = 60.0


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


def lowpass_decimate(
    samples: np.ndarray, factor: int, sample_rate: int, band_hz: tuple[float, float]
) -> np.ndarray:
    """Low-pass by FFT (raised-cosine roll-off, so no long ringing), drop the mean, decimate.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,), n_samples a multiple of ``factor``
    factor : int, decimation factor
    sample_rate : int, Hz, of ``samples``
    band_hz : (pass, stop), Hz, both below sample_rate / (2 · factor)

    Returns
    -------
    np.ndarray, shape (n_samples // factor,), float64
    """
    # Zero-pad by at least DECIMATION_MARGIN so the filter's tail does not wrap around from
    # the end of the window to its start; sizes in whole FFT_BLOCKs keep the FFTs fast.
    block = FFT_BLOCK * factor
    n_fft = -(-(len(samples) + DECIMATION_MARGIN * factor) // block) * block
    # YIN's difference ignores an offset, but summing it up loses precision: drop the mean
    # (before the zero padding, which would turn an offset into a step), so that a constant
    # (DC) window comes out as silence.
    centred = samples.astype(np.float64)
    centred -= centred.mean()
    spectrum = np.fft.rfft(centred, n=n_fft)[: n_fft // factor // 2 + 1]
    frequency = np.arange(len(spectrum)) * sample_rate / n_fft
    position = np.clip((frequency - band_hz[0]) / (band_hz[1] - band_hz[0]), 0.0, 1.0)
    spectrum *= 0.5 + 0.5 * np.cos(np.pi * position)
    return np.fft.irfft(spectrum, n=n_fft // factor)[: len(samples) // factor] / factor


def autocorrelation_basis(frame_length: int, max_lag: int) -> np.ndarray:
    """Matrix that turns a frame's power spectrum into its autocorrelation at lags 0…max_lag.

    ``power @ basis`` equals ``irfft(power)[:max_lag + 1]`` with the spectrum zero-padded
    enough that no lag wraps around; restricted to the lags YIN searches, one matrix product
    measured about 4× faster than the full inverse FFT.

    Returns
    -------
    np.ndarray, shape (n_fft // 2 + 1, max_lag + 1), float64, with
    n_fft = 2 · (shape[0] − 1) the power of two ≥ frame_length + max_lag
    """
    n_fft = 1 << (frame_length + max_lag - 1).bit_length()
    bins = np.arange(n_fft // 2 + 1)[:, None]
    weights = np.where((bins == 0) | (bins == n_fft // 2), 1.0, 2.0)  # one-sided spectrum
    return weights * np.cos(2.0 * np.pi * bins * np.arange(max_lag + 1) / n_fft) / n_fft


def yin_difference(frames: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """YIN's difference function ``d(τ) = Σ_j (x_j − x_{j+τ})²`` of every frame at once.

    The sum runs over all pairs inside the frame (j < frame_length − τ), as in librosa ≥ 0.10:
    for every lag the compared samples are centred on the frame's centre, so a gliding F0 is
    measured where the frame is centred. Expanded as energies minus twice the autocorrelation,
    which comes from one zero-padded FFT per frame and ``basis``.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, frame_length)
    basis : np.ndarray, ``autocorrelation_basis(frame_length, max_lag)``

    Returns
    -------
    np.ndarray, shape (n_frames, max_lag + 1), float64, ≥ 0, d(0) = 0
    """
    frame_length = frames.shape[1]
    n_fft, max_lag = 2 * (basis.shape[0] - 1), basis.shape[1] - 1
    # float64 on purpose: numpy's float32 real FFT measured 3× slower than its float64 one.
    spectrum = np.fft.rfft(np.asarray(frames, dtype=np.float64), n=n_fft, axis=1)
    autocorrelation = (spectrum.real**2 + spectrum.imag**2) @ basis
    energy = np.zeros((len(frames), frame_length + 1))
    np.cumsum(np.square(frames, dtype=np.float64), axis=1, out=energy[:, 1:])
    lags = np.arange(max_lag + 1)
    # Σ_{j < L−τ} x_j² + Σ_{j ≥ τ} x_j²
    pair_energy = energy[:, frame_length - lags] + energy[:, -1:] - energy[:, lags]
    difference = np.maximum(pair_energy - 2.0 * autocorrelation, 0.0)  # rounding dips below 0
    difference[:, 0] = 0.0
    return difference


def yin_pitch(
    frames: np.ndarray,
    sample_rate: int,
    fmin: float,
    fmax: float,
    threshold: float,
    basis: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F0, voicing and voiced flag of every frame by YIN.

    The period is the first trough of the cumulative-mean-normalised difference (CMND) below
    ``threshold`` among the lags of fmax … fmin (the lowest trough where none is), refined by
    parabolic interpolation of the raw difference, which the normalisation would bias.
    Frames more than PITCH_TOP_DB below the loudest one (silence, padding) count as aperiodic.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, frame_length), frame_length ≥ 2·(⌈sr/fmin⌉ + 1)
    sample_rate : int, Hz
    fmin, fmax : float, Hz, range of F0 searched
    threshold : float, CMND value below which a trough counts as periodic
    basis : np.ndarray, optional
        ``autocorrelation_basis(frame_length, ⌈sr/fmin⌉ + 1)``, to reuse across calls

    Returns
    -------
    f0_hz : np.ndarray, shape (n_frames,), float32, Hz (also for unvoiced frames)
    voicing : np.ndarray, shape (n_frames,), float32 in [0, 1]: 1 − the CMND minimum
    voiced : np.ndarray, shape (n_frames,), bool: a trough below ``threshold`` exists
    """
    min_period = int(np.floor(sample_rate / fmax))  # samples
    max_period = int(np.ceil(sample_rate / fmin))  # samples
    if basis is None:
        basis = autocorrelation_basis(frames.shape[1], max_period + 1)
    difference = yin_difference(frames, basis)
    lags = np.arange(max_period + 2)
    running = np.cumsum(difference, axis=1)
    # d(τ) averages about twice the frame's energy: frames below the absolute floor of log-mel
    # or PITCH_TOP_DB under the loudest are aperiodic, so that zero padding, low-pass ringing
    # and rounding noise of a constant signal never look periodic.
    power = running[:, -1] / (2.0 * frames.shape[1] * (max_period + 2))
    silent = (power < AMIN_POWER) | (power < power.max() * 10.0 ** (-PITCH_TOP_DB / 10.0))
    cmnd = difference * lags / np.maximum(running, np.finfo(np.float64).tiny)
    cmnd[silent] = 1.0
    # Lags min_period − 1 … max_period + 1, so every searched lag has both neighbours.
    window = cmnd[:, min_period - 1 :]
    centre, before, after = window[:, 1:-1], window[:, :-2], window[:, 2:]
    below = (centre < threshold) & (centre <= before) & (centre < after)
    voiced = below.any(axis=1)
    index = np.where(voiced, np.argmax(below, axis=1), np.argmin(centre, axis=1))
    rows, lag = np.arange(len(frames)), min_period + index
    y0, y1, y2 = (difference[rows, lag + k] for k in (-1, 0, 1))
    curvature = y0 - 2.0 * y1 + y2
    # A vertex further than one lag away means the three points are not a trough: keep the lag.
    trough = np.abs(y0 - y2) < 2.0 * curvature
    shift = np.where(trough, 0.5 * (y0 - y2) / np.where(trough, curvature, 1.0), 0.0)
    voicing = np.clip(1.0 - centre.min(axis=1), 0.0, 1.0)
    return (sample_rate / (lag + shift)).astype(np.float32), voicing.astype(np.float32), voiced


def pitch_basis(config: FeatureConfig) -> np.ndarray:
    """The autocorrelation basis :func:`pitch_columns` uses for ``config``."""
    rate = config.sample_rate // config.pitch_decimation
    frame_length = config.pitch_frame_length // config.pitch_decimation
    return autocorrelation_basis(frame_length, int(np.ceil(rate / config.pitch_fmin)) + 1)


def pitch_columns(
    window: np.ndarray, config: FeatureConfig, basis: np.ndarray | None = None
) -> np.ndarray:
    """The "pitch" group of one window: log F0, voicing, voiced flag and delta log F0.

    YIN runs at PITCH_ANALYSIS_RATE on frames of ``config.pitch_frame_length`` input samples,
    centred on the same hops as the other groups. F0 is in semitones above
    ``config.pitch_fmin`` so that the 0 of unvoiced frames lies below every voiced value
    instead of in the middle of the range. Delta-F0 is taken over the contour with unvoiced
    gaps held at the neighbouring voiced value, and is 0 on unvoiced frames: voicing onsets
    would otherwise look like 20-semitone leaps.

    Parameters
    ----------
    window : np.ndarray, shape (config.window_samples,)
    basis : np.ndarray, optional, ``pitch_basis(config)``, to reuse across calls

    Returns
    -------
    np.ndarray, shape (config.n_frames, len(PITCH_COLUMNS)), float32, finite
    """
    factor = config.pitch_decimation
    rate = config.sample_rate // factor
    decimated = lowpass_decimate(window, factor, config.sample_rate, PITCH_LOWPASS_HZ)
    frames = frame_signal(
        decimated, config.pitch_frame_length // factor, config.hop_length // factor
    )
    f0_hz, voicing, voiced = yin_pitch(
        frames,
        rate,
        config.pitch_fmin,
        config.pitch_fmax,
        config.pitch_threshold,
        pitch_basis(config) if basis is None else basis,
    )
    semitones = SEMITONES_PER_OCTAVE * np.log2(
        np.maximum(f0_hz, config.pitch_fmin) / config.pitch_fmin
    )
    semitones = np.where(voiced, semitones, 0.0)
    held = semitones
    if voiced.any():
        steps = np.arange(len(voiced))
        last_voiced = np.maximum.accumulate(np.where(voiced, steps, -1))
        last_voiced[last_voiced < 0] = np.argmax(voiced)  # leading gap: the first voiced frame
        held = semitones[last_voiced]
    delta_f0 = np.where(voiced, delta(held[:, None], config.delta_width)[:, 0], 0.0)
    columns = (semitones, voicing, voiced, delta_f0)
    return np.stack(columns, axis=1).astype(np.float32)


def spectrum_function(backend: str) -> Callable[..., np.ndarray]:
    """The real FFT a config's ``fft`` names: ``numpy.fft.rfft`` or ``scipy.fft.rfft``.

    scipy is needed only by models trained with it, so it is imported here, on demand.

    Raises
    ------
    FeatureConfigError
        For "scipy" when scipy is not installed.
    """
    if backend == "numpy":
        return np.fft.rfft
    try:
        import scipy.fft
    except ImportError as error:
        raise FeatureConfigError(
            "this model's features use scipy.fft (feature config fft='scipy'): install scipy"
        ) from error
    return scipy.fft.rfft


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
        self._pitch_basis = pitch_basis(config) if "pitch" in config.groups else None
        self._rfft = spectrum_function(config.fft)

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
        if config.front_end == "whisper":
            # Time first, like every other front end: (n_frames, 80). The encoder inside the
            # model normalises nothing per window, so padding stays Whisper's silence floor.
            return np.ascontiguousarray(whisper_log_mel(window).T)
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
            spectrum = self._rfft(frames * self._window, n=config.n_fft, axis=1)
            power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
            log_mel = 10.0 * np.log10(np.maximum(power @ self._mel_basis, AMIN_POWER))
            log_mel = np.maximum(log_mel, log_mel.max() - TOP_DB)
            columns["log_mel"] = log_mel
            if groups & {"mfcc", "delta_mfcc"}:
                mfcc = log_mel @ self._dct
                columns["mfcc"] = mfcc
                if "delta_mfcc" in groups:
                    columns["delta_mfcc"] = delta(mfcc, config.delta_width)
        if "pitch" in groups:
            columns["pitch"] = pitch_columns(window, config, self._pitch_basis)
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
