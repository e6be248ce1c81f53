"""CTranslate2's ``model.bin``, read and written with numpy only.

The layout (little-endian; CTranslate2's ``Model::load`` and ``ModelSpec._serialize``)::

    uint32 binary_version                      # 6 for files written by CTranslate2 4.x
    string spec_name                           # e.g. "WhisperSpec"
    uint32 spec_revision                       # 3 for WhisperSpec
    uint32 n_variables
    n_variables times:
        string name                            # e.g. "encoder/layer_0/ffn/linear_0/weight"
        uint8  rank
        uint32 shape[rank]
        uint8  dtype_id                        # index into DTYPES
        uint32 n_bytes
        bytes  data[n_bytes]                   # C order
    uint32 n_aliases
    n_aliases times: string alias, string target

where ``string`` is a uint16 length, then that many bytes of UTF-8 ending in one NUL.
Binary versions 4 to 6 share this layout (earlier ones stored an item size instead of a dtype).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

# CTranslate2's DataType enum (include/ctranslate2/types.h), in order: the id is the index.
DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
SUPPORTED_BINARY_VERSIONS = range(4, 7)  # 4 introduced dtype ids; 6 is current (4.x)
WRITTEN_BINARY_VERSION = 6


class Ct2FormatError(ValueError):
    """The file is not a CTranslate2 model.bin this reader understands, or is truncated."""


@dataclass(frozen=True)
class Ct2Model:
    """The variables of one model.bin, by name.

    ``variables`` holds numpy arrays in their stored dtype (float16 stays float16: callers
    convert to float32 when they build a model from it); rank-0 variables (flags such as
    ``encoder/num_heads``) are 0-d arrays. Aliases are resolved: an alias name maps to the
    same array as its target.
    """

    spec_name: str
    spec_revision: int
    binary_version: int
    variables: Mapping[str, np.ndarray]
    aliases: Mapping[str, str] = field(default_factory=dict)


def _read_exact(stream: BinaryIO, n_bytes: int, what: str) -> bytes:
    data = stream.read(n_bytes)
    if len(data) != n_bytes:
        raise Ct2FormatError(
            f"model.bin is truncated: {what} needs {n_bytes} bytes at offset "
            f"{stream.tell() - len(data)}, {len(data)} left"
        )
    return data


def _read_scalar(stream: BinaryIO, fmt: str, what: str) -> int:
    return struct.unpack("<" + fmt, _read_exact(stream, struct.calcsize(fmt), what))[0]


def _read_string(stream: BinaryIO, what: str) -> str:
    length = _read_scalar(stream, "H", what)
    raw = _read_exact(stream, length, what)
    # The stored length counts the terminating NUL, as C++'s std::string(c_str) reads it.
    return raw.split(b"\0", 1)[0].decode("utf-8")


def read_ct2_model(path: str | Path, prefix: str = "") -> Ct2Model:
    """Read a CTranslate2 ``model.bin``.

    Parameters
    ----------
    path : the model.bin file
    prefix : keep only variables (and aliases) whose name starts with it, e.g. ``"encoder/"``;
        the others are skipped on disk, not read (the decoder is half of Whisper's bytes).

    Raises
    ------
    Ct2FormatError : unsupported binary version or dtype, or a truncated file.
    """
    variables: dict[str, np.ndarray] = {}
    aliases: dict[str, str] = {}
    with open(path, "rb") as stream:
        binary_version = _read_scalar(stream, "I", "binary version")
        if binary_version not in SUPPORTED_BINARY_VERSIONS:
            raise Ct2FormatError(
                f"{path}: CTranslate2 binary version {binary_version} is not supported "
                f"(this reader knows {SUPPORTED_BINARY_VERSIONS.start}-"
                f"{SUPPORTED_BINARY_VERSIONS.stop - 1})"
            )
        spec_name = _read_string(stream, "spec name")
        spec_revision = _read_scalar(stream, "I", "spec revision")
        for _ in range(_read_scalar(stream, "I", "variable count")):
            name = _read_string(stream, "variable name")
            rank = _read_scalar(stream, "B", name)
            shape = struct.unpack(f"<{rank}I", _read_exact(stream, 4 * rank, name))
            dtype_id = _read_scalar(stream, "B", name)
            n_bytes = _read_scalar(stream, "I", name)
            if not name.startswith(prefix):
                stream.seek(n_bytes, 1)
                continue
            if dtype_id >= len(DTYPES) or DTYPES[dtype_id] == "bfloat16":
                raise Ct2FormatError(f"{path}: {name} has dtype id {dtype_id}, not supported")
            dtype = np.dtype(DTYPES[dtype_id]).newbyteorder("<")
            if n_bytes != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
                raise Ct2FormatError(f"{path}: {name} has {n_bytes} bytes for shape {shape}")
            data = _read_exact(stream, n_bytes, name)
            variables[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
        # Past the end on a truncated file: a short read raises below.
        for _ in range(_read_scalar(stream, "I", "alias count")):
            alias = _read_string(stream, "alias")
            target = _read_string(stream, "alias target")
            if alias.startswith(prefix) and target in variables:
                aliases[alias] = target
                variables[alias] = variables[target]
        trailing = stream.read(1)
        if trailing:
            raise Ct2FormatError(f"{path}: unexpected bytes after the aliases")
    return Ct2Model(spec_name, spec_revision, binary_version, variables, aliases)


def _write_string(stream: BinaryIO, text: str) -> None:
    raw = text.encode("utf-8") + b"\0"
    stream.write(struct.pack("<H", len(raw)))
    stream.write(raw)


def write_ct2_model(
    path: str | Path,
    variables: Mapping[str, np.ndarray],
    spec_name: str = "WhisperSpec",
    spec_revision: int = 3,
    aliases: Mapping[str, str] | None = None,
) -> Path:
    """Write ``variables`` (name → array; rank 0 for flags) as a CTranslate2 model.bin.

    Variables are written in name order, as CTranslate2's converter does. Arrays keep their
    dtype, which must be one of float32, int8, int16, int32 or float16; Python bools and ints
    should be passed as int8/int16 0-d arrays, as CTranslate2 stores them.
    """
    path = Path(path)
    aliases = dict(aliases or {})
    for alias, target in aliases.items():
        if target not in variables:
            raise ValueError(f"alias {alias} points to {target}, which is not a variable")
    with open(path, "wb") as stream:
        stream.write(struct.pack("<I", WRITTEN_BINARY_VERSION))
        _write_string(stream, spec_name)
        stream.write(struct.pack("<I", spec_revision))
        stream.write(struct.pack("<I", len(variables)))
        for name in sorted(variables):
            array = np.asarray(variables[name], order="C")  # ascontiguousarray makes 0-d 1-d
            if array.dtype.name not in DTYPES or array.dtype.name == "bfloat16":
                raise ValueError(f"{name}: dtype {array.dtype} cannot be stored")
            _write_string(stream, name)
            stream.write(struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape))
            stream.write(struct.pack("<BI", DTYPES.index(array.dtype.name), array.nbytes))
            stream.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        stream.write(struct.pack("<I", len(aliases)))
        for alias in sorted(aliases):
            _write_string(stream, alias)
            _write_string(stream, aliases[alias])
    return path
