"""When is audio silence: the one home of both thresholds, for decoding, windowing and serving.

Two levels, two questions:

* ``SILENCE_PEAK``: a recording whose every sample stays below it is digital silence (a muted
  microphone, a file of zeros); :func:`ser_features.load_audio` refuses it outright.
* ``FeatureConfig.silence_dbfs``: a model window whose RMS level is below it is not classified;
  a recording with no window above it has nothing to classify (:func:`require_voiced`).
"""

from __future__ import annotations

import numpy as np

from ser_features.errors import SilentAudioError

SILENCE_PEAK = 1e-4  # linear full scale (-80 dBFS): a peak below this is digital silence
SILENCE_PEAK_DBFS = -80.0  # dB re full scale, the same level for messages


def is_digital_silence(samples: np.ndarray) -> bool:
    """True when ``samples`` (shape (n,), float) is empty or peaks below ``SILENCE_PEAK``."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def check_not_digital_silence(samples: np.ndarray) -> None:
    """Raise :class:`SilentAudioError` for digital silence (see :func:`is_digital_silence`)."""
    if is_digital_silence(samples):
        raise SilentAudioError(
            f"the audio is silent: every sample is below {SILENCE_PEAK_DBFS:g} dBFS"
        )


def is_silent_window(level_dbfs: float, silence_dbfs: float) -> bool:
    """True when a window's RMS level (dBFS) is below the model's silence level (dBFS)."""
    return bool(level_dbfs < silence_dbfs)


def require_voiced(n_voiced: int, silence_dbfs: float) -> None:
    """Raise :class:`SilentAudioError` when a recording has no window above ``silence_dbfs``."""
    if n_voiced == 0:
        raise SilentAudioError(
            f"the recording has no part louder than {silence_dbfs:g} dBFS: "
            "there is no speech to classify"
        )
