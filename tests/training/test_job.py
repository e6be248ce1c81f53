"""Leave one corpus out with a partial corpus: nEMO is read to be held out, never to train."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tests.training.conftest import make_nemo

pytestmark = [pytest.mark.training, pytest.mark.slow]


def test_a_partial_corpus_is_held_out_on_its_own_labels(toy_corpora: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from ser_training.cli import build_config
    from ser_training.job import leave_one_corpus_out, scan, trains_on

    data = tmp_path / "data"
    shutil.copytree(toy_corpora, data)
    make_nemo(data / "nemo")
    config = build_config(data, cache=tmp_path / "cache", quick=True, workers=1, encoder="none")
    # The default recipe does not train on nEMO; the scan reads it only when it is held out.
    assert not trains_on(config, "nemo")
    assert "nemo" not in {u.corpus for u in scan(config).utterances}
    assert trains_on(dataclasses.replace(config, extra_corpora=("nemo",)), "nemo")

    folds = leave_one_corpus_out(config, ["nemo", "emodb"])
    nemo = folds["nemo"]
    assert nemo["trained_on"] == ["emodb", "ravdess", "tess"]
    assert nemo["n"] == nemo["n_files"] == 5 * 6
    assert nemo["prediction_distribution"]["disgust"] == 0  # not a label nEMO has
    assert nemo["by_speakers"]["test_speakers"]["speakers"] == ["EB0", "KS0"]
    # Reading nEMO for its own fold does not make it a training corpus of the other folds.
    assert "nemo" not in folds["emodb"]["trained_on"]


def test_the_card_says_where_the_hyperparameters_came_from(tmp_path: Path) -> None:
    """The encoder head's defaults were never tuned: the card must not call them tuned."""
    pytest.importorskip("tensorflow")
    from ser_training.cli import build_config
    from ser_training.job import hyperparameters_origin
    from ser_training.model.network import ModelHyperparameters

    head = build_config(tmp_path)
    assert head.encoder is not None
    assert "not tuned" in hyperparameters_origin(head)
    cnn = build_config(tmp_path, encoder="none")  # training/configs/hyperparameters.json
    assert "make tune" in hyperparameters_origin(cnn)
    changed = dataclasses.replace(
        cnn, hyperparameters=ModelHyperparameters(**cnn.hyperparameters.to_dict() | {"blocks": 1})
    )
    assert hyperparameters_origin(changed) == "set for this run"
