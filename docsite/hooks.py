"""MkDocs hooks (``mkdocs.yml``, ``hooks:``): what the site takes from the repository at build
time instead of from copies kept in ``docs/``.

- Repository files the pages link to (the model card, the evaluation report and its figures,
  the comparison table, the benchmark results) join the site at their repository paths, so a
  page at the top of ``docs/`` links to ``models/MODEL_CARD.md`` as the README does.
- ``api-reference.md``: the OpenAPI schema of ``ser_api.main:app`` itself, rendered to Markdown
  by essentials-openapi.
- ``model.md``'s ``<!-- results-table -->`` mark: the table ``docsite.results`` writes into the
  README too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

# MkDocs loads a hook by its path, not as part of a package: the repository root goes on the
# path so that the hook imports its sibling the way tests and `python -m docsite.results` do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from docsite.results import REPO_ROOT, results_table

# Repository files that join the site, as globs relative to the repository root.
REPOSITORY_FILES = (
    "models/MODEL_CARD.md",
    "models/evaluation/*.md",
    "models/evaluation/*.png",
    "models/evaluation/compare/*.md",
    "bench/results/*.md",
)
API_REFERENCE = "api-reference.md"
RESULTS_MARK = "<!-- results-table -->"


def repository_files(root: Path = REPO_ROOT) -> Iterator[str]:
    """Repository-relative paths of the files the site publishes from outside ``docs/``."""
    for pattern in REPOSITORY_FILES:
        for path in sorted(root.glob(pattern)):
            yield path.relative_to(root).as_posix()


def api_reference_markdown() -> str:
    """The API's OpenAPI schema as a Markdown page, from the app object the service runs."""
    from openapidocs.mk.v3 import OpenAPIV3DocumentationHandler

    from ser_api.main import app

    schema = app.openapi()
    body = OpenAPIV3DocumentationHandler(schema, style="MKDOCS").write()
    return (
        "# API reference\n\n"
        "Rendered at build time from the OpenAPI schema of `ser_api.main:app`, the app the "
        "service runs (a running API serves the same schema at `/openapi.json` and Swagger UI "
        "at `/docs`). The live stream (`WS /stream`) is a WebSocket, which OpenAPI does not "
        "describe: see [Live stream](stream.md).\n\n" + body
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path in repository_files():
        if files.get_file_from_path(path) is None:
            files.append(File.generated(config, path, abs_src_path=str(REPO_ROOT / path)))
    files.append(File.generated(config, API_REFERENCE, content=api_reference_markdown()))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if RESULTS_MARK in markdown:
        return markdown.replace(RESULTS_MARK, results_table())
    return markdown
