"""graph_sha256: which initializers of an exported graph are the encoder's, and their hash.

Hand-built graphs (onnx.helper, no TensorFlow) pin the definition: the consumer's scope decides,
any encoder value changes the hash, the head's do not, storage form does not. The exported tiny
v3 graph (TensorFlow, once per session) shows that the definition catches every encoder weight
tf2onnx writes, under whatever name.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ser_encoders import EncoderGraphError, EncoderSpec, graph_sha256, load_whisper_encoder
from ser_encoders.graph import encoder_initializers
from ser_features.model_metadata import ModelMetadata
from tests.conftest import TINY_V3_LAYERS, TINY_V3_POOL

SCOPE = "ser_encoder_model_1/whisper_encoder_1"


def scoped_graph(
    initializers: dict[str, np.ndarray], owners: dict[str, str], raw: bool = True
) -> onnx.ModelProto:
    """One Identity node per initializer, named in ``owners[name]``'s scope; values stored as
    raw_data or, with ``raw=False``, in the type's own field (float_data, int64_data, …)."""
    tensors = [
        helper.make_tensor(
            name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape,
            value.tobytes() if raw else value.ravel().tolist(), raw=raw,
        )
        for name, value in initializers.items()
    ]  # fmt: skip
    nodes = [
        helper.make_node("Identity", [name], [f"out_{i}"], name=f"{owners[name]}/read_{i}")
        for i, name in enumerate(initializers)
    ]
    graph = helper.make_graph(nodes, "g", [], [], initializer=tensors)
    return helper.make_model(graph)


RNG = np.random.default_rng(0)
WEIGHTS = {
    f"{SCOPE}/conv1_1/kernel:0": RNG.standard_normal((3, 4)).astype(np.float32),
    "const_fold_opt__12": RNG.standard_normal(4).astype(np.float32),  # a folded encoder bias
    "ser_encoder_model_1/ser_cnn_1/dense_1/kernel:0": RNG.standard_normal(4).astype(np.float32),
}
OWNERS = {
    f"{SCOPE}/conv1_1/kernel:0": SCOPE,
    "const_fold_opt__12": f"{SCOPE}/conv1_1",
    "ser_encoder_model_1/ser_cnn_1/dense_1/kernel:0": "ser_encoder_model_1/ser_cnn_1",
}


def test_the_encoder_is_what_nodes_in_its_scope_read_whatever_the_initializer_name() -> None:
    names = [t.name for t in encoder_initializers(scoped_graph(WEIGHTS, OWNERS))]
    assert names == sorted(["const_fold_opt__12", f"{SCOPE}/conv1_1/kernel:0"])


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_one_changed_encoder_value_changes_the_hash_and_a_head_value_does_not(name: str) -> None:
    before = graph_sha256(scoped_graph(WEIGHTS, OWNERS))
    changed = dict(WEIGHTS)
    changed[name] = WEIGHTS[name].copy()
    changed[name].flat[1] = np.nextafter(changed[name].flat[1], np.float32(np.inf))
    after = graph_sha256(scoped_graph(changed, OWNERS))
    assert (after == before) == ("ser_cnn" in name)


def test_renaming_or_swapping_encoder_weights_changes_the_hash() -> None:
    a, b = f"{SCOPE}/a:0", f"{SCOPE}/b:0"
    x, y = (RNG.standard_normal(4).astype(np.float32) for _ in range(2))
    owners = {a: SCOPE, b: SCOPE, f"{SCOPE}/c:0": SCOPE}
    original = graph_sha256(scoped_graph({a: x, b: y}, owners))
    assert graph_sha256(scoped_graph({a: y, b: x}, owners)) != original
    assert graph_sha256(scoped_graph({a: x, f"{SCOPE}/c:0": y}, owners)) != original


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.int8, np.float64])
def test_values_in_raw_data_or_in_their_typed_field_hash_the_same(dtype) -> None:
    value = (RNG.standard_normal((2, 3)) * 50).astype(dtype)
    weights, owners = {f"{SCOPE}/w:0": value}, {f"{SCOPE}/w:0": SCOPE}
    raw, typed = scoped_graph(weights, owners, raw=True), scoped_graph(weights, owners, raw=False)
    assert not typed.graph.initializer[0].raw_data  # really stored the other way
    assert graph_sha256(raw) == graph_sha256(typed)
    (tensor,) = encoder_initializers(typed)
    assert tensor.data == value.astype(value.dtype.newbyteorder("<")).tobytes()


def test_the_proto_and_its_bytes_hash_the_same() -> None:
    proto = scoped_graph(WEIGHTS, OWNERS)
    assert graph_sha256(proto) == graph_sha256(proto.SerializeToString())


@pytest.mark.parametrize(
    "node_scope", ["model/not_whisper_encoder/x", "model/whisper_encoder_x/y", "whisper_encoders/z"]
)
def test_a_graph_without_encoder_nodes_is_refused(node_scope: str) -> None:
    owners = dict.fromkeys(WEIGHTS, node_scope)
    with pytest.raises(EncoderGraphError, match="no node in the 'whisper_encoder' scope"):
        graph_sha256(scoped_graph(WEIGHTS, owners))


def test_weights_outside_the_file_and_non_onnx_bytes_are_refused() -> None:
    proto = scoped_graph(WEIGHTS, OWNERS)
    proto.graph.initializer[0].data_location = TensorProto.EXTERNAL
    with pytest.raises(EncoderGraphError, match="external file"):
        graph_sha256(proto)
    with pytest.raises(EncoderGraphError, match="not an ONNX model"):
        graph_sha256(b"\x3a\xff\xff")  # field 7 (graph) whose length runs past the end


def used_encoder_weights(weights, layers: tuple[int, ...], n_steps: int) -> list[np.ndarray]:
    """The encoder arrays a graph reading ``layers`` needs: convolutions, positions of the
    window's steps, the blocks up to the deepest selected one, the final LayerNorm if read."""
    arrays = [weights.conv1_weight, weights.conv1_bias, weights.conv2_weight,
              weights.conv2_bias, weights.positions[:n_steps]]  # fmt: skip
    for block in weights.blocks[: min(max(layers), weights.n_layers)]:
        arrays += [getattr(block, f.name) for f in dataclasses.fields(block)]
    if max(layers) == weights.n_layers + 1:
        arrays += [weights.final_norm_gamma, weights.final_norm_beta]
    return arrays


@pytest.mark.training
def test_the_export_s_encoder_weights_are_all_hashed_and_read_as_onnx_reads_them(
    tiny_v3_model: Path, tiny_encoder: tuple[EncoderSpec, Path]
) -> None:
    proto = onnx.load(str(tiny_v3_model))
    tensors = encoder_initializers(tiny_v3_model.read_bytes())
    # Read as onnx's own reader reads them (an independent implementation of the format).
    reference = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for tensor in tensors:
        expected = reference[tensor.name]
        assert tensor.dims == expected.shape
        assert tensor.data == expected.astype(expected.dtype.newbyteorder("<")).tobytes()
    # Exactly the encoder's weights, however tf2onnx named, folded and reshaped them: the
    # hashed multi-value float tensors hold the same values as the weights the graph uses.
    weights = load_whisper_encoder(*tiny_encoder)
    n_steps = 300 // 2  # log-mel frames of a 3-s window → encoder steps, before pooling
    expected = np.concatenate(
        [a.ravel() for a in used_encoder_weights(weights, TINY_V3_LAYERS, n_steps)]
    )
    hashed = [np.frombuffer(t.data, "<f4") for t in tensors if t.data_type == TensorProto.FLOAT]
    hashed_weights = np.concatenate([h for h in hashed if h.size > 1])
    np.testing.assert_array_equal(np.sort(hashed_weights), np.sort(expected))
    # And the metadata written at export holds this graph's hash.
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    assert metadata.encoder.graph_sha256 == graph_sha256(proto)
    assert metadata.encoder.pool == TINY_V3_POOL
