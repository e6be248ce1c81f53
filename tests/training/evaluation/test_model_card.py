"""Model card wording follows the recipe recorded in the summary."""

from __future__ import annotations

import pytest

from ser_features.config import NORMALIZATIONS

model_card = pytest.importorskip("ser_training.evaluation.model_card")


def test_every_feature_normalisation_is_described() -> None:
    assert set(model_card.NORMALISATION_TEXT) == set(NORMALIZATIONS)


@pytest.mark.parametrize(
    ("pad_mode", "balance", "expected"),
    [
        ("zero", False, ["zero-padded", "every emotion counts the same."]),
        ("repeat", True, ["looped", "every corpus counts the same"]),
    ],
)
def test_summaries_from_before_recipes_still_render(
    pad_mode: str, balance: bool, expected: list[str]
) -> None:
    summary = {"feature_config": {"pad_mode": pad_mode}, "balance_corpora": balance}
    text = model_card.training_weighting_text(summary)
    for phrase in expected:
        assert phrase in text


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ({"balance": "speaker"}, ["within a corpus every speaker"]),
        (
            {"balance": "class", "extra_corpora": ["turev", "urdu"], "mask_absent_labels": True},
            ["TurEV-DB, URDU join as training speakers", "not taught as negatives"],
        ),
        ({"balance": "class", "ensemble": 3}, ["averages 3 networks"]),
    ],
)
def test_weighting_text_states_the_recorded_recipe(recipe: dict, expected: list[str]) -> None:
    summary = {"feature_config": {"pad_mode": "zero"}, "recipe": recipe}
    text = model_card.training_weighting_text(summary)
    for phrase in expected:
        assert phrase in text
