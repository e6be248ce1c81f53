"""Fixtures more than one test folder uses: a tiny Model v3 graph, exported once per session.

The graph is the real v3 architecture (Whisper log-mel → Whisper encoder → head, one ONNX
graph with the encoder section in its metadata) on a tiny random encoder written at test time;
exporting it needs TensorFlow, so the tests that use it are marked ``training`` and skip, with
the reason, where TensorFlow is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ser_encoders import (
    ENCODERS,
    EncoderSpec,
    WhisperEncoderWeights,
    load_whisper_encoder,
    sha256_file,
)
from tests.support.tiny_encoder import TINY_SHAPE, write_tiny_whisper
from tests.support.v3_model import log_mel_windows

TINY_V3_LAYERS = (1, 2)  # block_1 and block_2 of the 2-block tiny encoder
TINY_V3_POOL = 2  # 150 encoder steps → 75, as training's cache
TINY_V3_HEAD = {"filters": 8, "blocks": 1, "dense_units": 8}


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[EncoderSpec, Path]:
    """A tiny random Whisper's model.bin and a spec pinning it by its sha256."""
    path = write_tiny_whisper(tmp_path_factory.mktemp("v3-encoder"), seed=7, **TINY_SHAPE)
    spec = EncoderSpec(
        name="whisper-tiny-random-test", package="tests.support.tiny_encoder",
        package_version="0", module="tests.support", model_file="model.bin",
        sha256=sha256_file(path), licence="test only (random weights)", **TINY_SHAPE,
    )  # fmt: skip
    return spec, path


@pytest.fixture
def known_tiny_encoder(tiny_encoder: tuple[EncoderSpec, Path]) -> Iterator[EncoderSpec]:
    """The tiny encoder's spec among ``ser_encoders.ENCODERS`` for one test: serving accepts
    only pinned encoders, and a test pins this one as the product pins tiny.en."""
    spec, _ = tiny_encoder
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ENCODERS, spec.name, spec)
        yield spec


@pytest.fixture(scope="session")
def tiny_v3_model(
    tiny_encoder: tuple[EncoderSpec, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny v3 graph (.onnx and its .json sidecar), exported with the parity gate."""
    pytest.importorskip(
        "tensorflow",
        reason="the tiny v3 model is exported with TensorFlow (pip install -e training)",
    )
    from tests.support.v3_model import export_v3_model

    spec, path = tiny_encoder
    weights: WhisperEncoderWeights = load_whisper_encoder(spec, path)
    model, _ = export_v3_model(
        tmp_path_factory.mktemp("v3-model") / "tiny_v3.onnx", weights, spec,
        layers=TINY_V3_LAYERS, pool=TINY_V3_POOL, head=TINY_V3_HEAD,
        parity_batch=log_mel_windows(4), model_version="tiny-v3-test",
    )  # fmt: skip
    return model


@pytest.fixture(scope="session")
def tiny_v3_adapted_model(tiny_v3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny v3 graph with a random speaker-adapted head (issue 24): usable profiles need
    2 voiced windows and no plain answer on more than 90 % of them."""
    from tests.support.v3_model import export_adapted_v3_model

    target = tmp_path_factory.mktemp("v3-adapted") / "tiny_v3_adapted.onnx"
    return export_adapted_v3_model(tiny_v3_model, target)
