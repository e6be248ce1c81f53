"""Fixtures for the batch job: a tiny real model, synthesised archives, one local Ray."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray

from ser_encoders import EncoderSpec
from tests.support.audio import encoded_bytes, harmonic_tone, write_audio
from tests.support.tiny_model import build_tiny_model

# Two CPUs (this machine's count) and no dashboard keep Ray's start-up to a few seconds.
RAY_CPUS = 2


@pytest.fixture(scope="session")
def batch_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("batch-model") / "tiny.onnx")


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray for the whole session; ser_batch.job reuses a Ray already started."""
    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_knowing_tiny_encoder(tiny_encoder: tuple[EncoderSpec, Path]) -> Iterator[None]:
    """A local Ray whose worker processes pin the tiny test encoder, as ``known_tiny_encoder``
    pins it in this one: the actors of a job on the tiny v3 model load it in their own
    processes. A Ray already running (``local_ray``) is stopped and started again after."""
    spec, _ = tiny_encoder

    def pin_tiny_encoder() -> None:  # pickled by value into every worker
        from ser_encoders import ENCODERS

        ENCODERS[spec.name] = spec

    restart = ray.is_initialized()
    if restart:
        ray.shutdown()
    ray.init(
        num_cpus=RAY_CPUS, include_dashboard=False, logging_level="WARNING",
        runtime_env={"worker_process_setup_hook": pin_tiny_encoder},
    )  # fmt: skip
    yield
    ray.shutdown()
    if restart:
        ray.init(num_cpus=RAY_CPUS, include_dashboard=False, logging_level="WARNING")


def make_archive(folder: Path, n_good: int = 4, *, seed: int = 0) -> dict[str, Path]:
    """A folder of good clips (WAV at several rates, one M4A in a sub-folder) and bad files.

    Returns
    -------
    dict[str, Path]
        name → path; bad ones are named after the error they must produce.
    """
    files: dict[str, Path] = {}
    for i in range(n_good):
        rate = (16_000, 44_100, 48_000)[i % 3]
        tone = harmonic_tone(1.5 + 0.5 * i, rate=rate, seed=seed + i)
        files[f"good{i}"] = write_audio(folder / f"good{i}.wav", tone, rate)
    memo = folder / "phone" / "memo.m4a"
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_bytes(encoded_bytes(harmonic_tone(2.0, rate=44_100, seed=seed + 99), "m4a"))
    files["memo"] = memo
    files["undecodable"] = folder / "broken.wav"
    files["undecodable"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100))
    files["empty"] = folder / "empty.mp3"
    files["empty"].write_bytes(b"")
    files["silent"] = write_audio(folder / "silent.flac", np.zeros(16_000, np.float32))
    (folder / "notes.txt").write_text("not audio, and not picked up by the folder scan")
    return files
