"""The results table is written from models/evaluation/ by one script: the README's copy is
the script's output, and a changed figure changes the table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from docsite import results
from docsite.results import EVALUATION, results_table, with_results


def test_the_readme_holds_the_table_the_script_writes() -> None:
    assert results.main(["--check"]) == 0, "run: python -m docsite.results --write"


def test_a_changed_figure_changes_the_table(tmp_path: Path) -> None:
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    for name in ("summary.json", "adaptation.json"):
        shutil.copy(EVALUATION / name, evaluation / name)
    before = results_table(evaluation)
    summary = json.loads((evaluation / "summary.json").read_text(encoding="utf-8"))
    summary["test"]["ravdess"]["accuracy"] = 0.123
    summary["model_version"] = "ser-test-version"
    (evaluation / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    after = results_table(evaluation)
    assert "**12.3 %**" in after and "**12.3 %**" not in before
    assert "`ser-test-version`" in after


def test_every_scored_corpus_has_a_row() -> None:
    summary = json.loads((EVALUATION / "summary.json").read_text(encoding="utf-8"))
    table = results_table()
    for protocol, key in (
        ("held-out speakers", "test"),
        ("corpus held out", "leave_one_corpus_out"),
        ("never trained on", "exported_model_scores"),
    ):
        for corpus, metrics in summary.get(key, {}).items():
            row = next(
                (
                    line
                    for line in table.splitlines()
                    if line.startswith(f"| {protocol}")
                    and (corpus == "all" or results.corpus_name(corpus) in line)
                ),
                None,
            )
            assert row is not None, (protocol, corpus)
            assert results.percent(metrics["accuracy"]) in table


def test_check_fails_on_a_stale_readme_and_write_mends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n<!-- results:start -->\n| old | table |\n<!-- results:end -->\n", encoding="utf-8"
    )
    monkeypatch.setattr(results, "README", readme)
    assert results.main(["--check"]) == 1
    assert results.main(["--write"]) == 0
    assert results.main(["--check"]) == 0
    assert "| old | table |" not in readme.read_text(encoding="utf-8")


def test_a_readme_without_the_marks_is_refused() -> None:
    with pytest.raises(ValueError, match="results:start"):
        with_results("# no marks\n", "table")


def test_a_model_without_adaptation_or_held_out_corpora_gets_a_table_without_them(
    tmp_path: Path,
) -> None:
    """No adaptation.json: no domain rows and no note about them; no leave-one-corpus-out
    run: a domain row of a corpus the plain head trained on shows '–', never the plain
    head's own (memorised) figure, and a † only ever comes with its footnote."""
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    summary = json.loads((EVALUATION / "summary.json").read_text(encoding="utf-8"))
    summary.pop("leave_one_corpus_out")
    summary.pop("refit")
    (evaluation / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    plain = results_table(evaluation)
    assert "domain profile" not in plain and "†" not in plain
    assert "weights are a refit" not in plain
    assert "corpus held out (" not in plain and "| held-out speakers |" in plain

    shutil.copy(EVALUATION / "adaptation.json", evaluation / "adaptation.json")
    adapted = results_table(evaluation)
    emodb = next(row for row in adapted.splitlines() if "domain profile" in row and "EMO-DB" in row)
    assert "| – → **" in emodb  # the adaptation run's plain head trained on EMO-DB
    assert "†" not in adapted
    nemo = next(row for row in adapted.splitlines() if "domain profile" in row and "nEMO" in row)
    assert "33.1 → **" in nemo  # never trained on nEMO: its own plain figure stands
