"""The documentation site builds strictly from a clean tree (`make docs`), holds what is
generated from the code and the model, and refuses a broken link; every link of the README
resolves to a file (and heading) of the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

from ser_api.main import app
from tests.frontdoor.make import KEEP_VENV, make, make_env
from tests.frontdoor.readme import FENCE, README, REPO_ROOT

BUILD_TIMEOUT_S = 300  # s; a build takes a few seconds
MKDOCS = Path(sys.executable).parent / "mkdocs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
TAG = re.compile(r"<[^>]+>")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def anchors(markdown: str) -> set[str]:
    """The ids MkDocs gives the headings of a page (its toc extension's slugs)."""
    return {slugify(heading, "-") for heading in HEADING.findall(FENCE.sub("", markdown))}


def link_problems(document: Path) -> list[str]:
    """Links of ``document`` to files or headings that do not exist (web links not followed)."""
    problems = []
    for target in LINK.findall(FENCE.sub("", document.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(file.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading #{anchor} in {file.name}")
    return problems


def test_the_link_check_finds_a_missing_file_and_heading(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text("# A page\n\n## Speaker adaptation\n", encoding="utf-8")
    document = tmp_path / "README.md"
    document.write_text(
        "[ok](page.md#speaker-adaptation) [gone](nothing.md) [bad](page.md#no-such-heading)\n"
        "```bash\necho '[not a link](in-code.md)'\n```\n",
        encoding="utf-8",
    )
    assert link_problems(document) == [
        "nothing.md: no such file",
        "page.md#no-such-heading: no heading #no-such-heading in page.md",
    ]


def test_every_readme_link_resolves() -> None:
    assert LINK.findall(README.read_text(encoding="utf-8")), "the README links nowhere"
    assert not link_problems(README)


@pytest.mark.slow
def test_make_docs_builds_the_site_with_what_is_generated() -> None:
    build = make(*KEEP_VENV, "docs", timeout_s=BUILD_TIMEOUT_S)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "WARNING" not in build.stderr, build.stderr[-3000:]
    site = REPO_ROOT / "artifacts" / "site"
    reference = " ".join(TAG.sub("", (site / "api-reference.html").read_text("utf-8")).split())
    for path, operations in app.openapi()["paths"].items():  # the app's own schema, every route
        for method in operations:
            assert f"{method.upper()} {path}" in reference, (method, path)
    model = (site / "model.html").read_text(encoding="utf-8")
    assert "held-out speakers" in model and "<!-- results-table -->" not in model
    for name in ("models/MODEL_CARD.html", "models/evaluation/report.html"):
        assert (site / name).exists(), name  # the model's own evaluation files, not copies


@pytest.mark.slow
def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The site's strictness is real: the same config over a copy of docs/ with one link to a
    page that does not exist does not build."""
    shutil.copy(REPO_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    (tmp_path / "docsite").symlink_to(REPO_ROOT / "docsite")
    with (tmp_path / "docs" / "licences.md").open("a", encoding="utf-8") as page:
        page.write("\nSee [the missing page](no-such-page.md).\n")
    build = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path,
        env=make_env(NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert build.returncode != 0
    assert "no-such-page.md" in build.stderr
