"""The network: masked loss, front ends, pooling and ensembles."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.training
keras = pytest.importorskip("keras")

from ser_training.model.network import (  # noqa: E402
    ModelHyperparameters,
    build_model,
    ensemble_model,
    masked_crossentropy,
    pack_targets,
)

SMALL = {"filters": 8, "blocks": 2, "dense_units": 8, "time_mask": 0, "feature_mask": 0}


def test_with_every_label_allowed_the_loss_is_keras_crossentropy() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=8).astype(np.float32)
    labels = rng.integers(0, 5, size=8)
    packed = pack_targets(labels, np.ones((8, 5), np.float32))
    ours = np.asarray(masked_crossentropy(0.1)(packed, probabilities))
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, reduction=None)(
        np.eye(5)[labels], probabilities
    )
    np.testing.assert_allclose(ours, np.asarray(reference), rtol=1e-5)


def test_a_masked_label_gets_no_gradient_of_blame() -> None:
    # Probability mass on a label the corpus does not have changes nothing.
    mask = np.array([[1, 1, 0]], np.float32)
    packed = pack_targets(np.array([0]), mask)
    loss = masked_crossentropy(0.0)
    a = float(loss(packed, np.array([[0.5, 0.25, 0.25]], np.float32))[0])
    b = float(loss(packed, np.array([[0.2, 0.1, 0.7]], np.float32))[0])
    assert a == pytest.approx(b, rel=1e-5)
    with pytest.raises(ValueError, match="masked out"):
        pack_targets(np.array([2]), mask)


@pytest.mark.parametrize(
    ("architecture", "pooling"), [("conv1d", "stats"), ("conv2d", "stats"), ("conv2d", "meanmax")]
)
def test_front_ends_map_windows_to_probabilities(architecture: str, pooling: str) -> None:
    hp = ModelHyperparameters(**SMALL, architecture=architecture, pooling=pooling)
    model = build_model((32, 12), 4, hp)
    out = np.asarray(model(np.random.default_rng(1).normal(size=(3, 32, 12)).astype(np.float32)))
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="architecture"):
        ModelHyperparameters(architecture="transformer")


def test_an_ensemble_outputs_the_mean_of_its_members() -> None:
    hp = ModelHyperparameters(**SMALL)
    keras.utils.set_random_seed(1)
    members = [build_model((32, 12), 3, hp) for _ in range(3)]
    batch = np.random.default_rng(2).normal(size=(4, 32, 12)).astype(np.float32)
    expected = np.mean([np.asarray(m(batch, training=False)) for m in members], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble_model(members)(batch)), expected, atol=1e-6)
    assert ensemble_model(members[:1]) is members[0]


def test_an_ensemble_exports_to_one_onnx_graph_with_parity(tmp_path) -> None:
    from ser_features import FeatureConfig
    from ser_features.model_metadata import ModelMetadata
    from ser_training.model.export import export_model

    config = FeatureConfig(window_s=0.5, n_mels=16, n_mfcc=8)
    hp = ModelHyperparameters(**SMALL)
    members = [build_model(config.input_shape, 3, hp) for _ in range(2)]
    metadata = ModelMetadata(labels=("a", "b", "c"), feature_config=config, model_version="e2")
    batch = np.random.default_rng(3).normal(size=(5, *config.input_shape)).astype(np.float32)
    path, difference = export_model(ensemble_model(members), metadata, batch, tmp_path)
    assert path.is_file() and difference <= 1e-4
