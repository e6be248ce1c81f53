"""The commands of the README and of every documentation page exist: every ``make`` target,
project CLI (any console script a component's pyproject.toml defines) and ``--option`` their
shell blocks mention is checked against make and the CLI's own ``--help``. Their lists of
accepted formats are the code's list.

Nothing here knows which commands the documents hold today: it parses whatever is there, so a
command added to a page is checked the day it is added.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

from ser_contract.formats import describe_formats
from tests.frontdoor.make import make
from tests.frontdoor.readme import (
    REPO_ROOT,
    documents,
    fenced_blocks,
    project_scripts,
    shell_commands,
    split_commands,
)
from tests.ui.live_servers import clean_env

BIN = Path(sys.executable).parent  # where the environment running the tests installed the CLIs
HELP_TIMEOUT_S = 120  # s; a CLI's --help imports its package (ser-batch: Ray), a few seconds
# Wide, plain help text: Typer's boxes must not wrap or colour an option name.
HELP_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
FORMATS_SPAN = re.compile(r"<!-- accepted-formats -->(.*?)<!-- /accepted-formats -->", re.DOTALL)


@functools.cache
def cli_help(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``SCRIPT ARGS --help``, run once per argument list."""
    return subprocess.run(
        [str(BIN / script), *args, "--help"],
        cwd=REPO_ROOT,
        env=clean_env(**HELP_ENV),
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT_S,
        check=False,
    )


def mentions(help_text: str, option: str) -> bool:
    """Whether ``option`` appears in ``help_text`` as a whole option (not ``--segments-x``)."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def command_problems(words: list[str], scripts: Collection[str]) -> list[str]:
    """What is wrong with one README command; ``[]`` for commands of other tools (docker,
    curl), which this project does not define."""
    shown, name, args = shlex.join(words), Path(words[0]).name, words[1:]
    if name == "make":
        dry_run = make("-n", *args)
        return [] if dry_run.returncode == 0 else [f"`{shown}`: {dry_run.stderr.strip()}"]
    if name not in scripts:
        return []
    if not (BIN / name).exists():
        return [f"`{shown}`: {name} is not installed in {BIN} (`make setup` installs it)"]
    main = cli_help(name)
    if main.returncode != 0:
        return [f"`{shown}`: `{name} --help` failed: {main.stderr.strip()[-500:]}"]
    helps = [main.stdout]
    if args and not args[0].startswith("-"):  # a subcommand, or the CLI's first argument
        sub = cli_help(name, args[0])
        if sub.returncode != 0:
            return [f"`{shown}`: `{name} {args[0]} --help` failed: {sub.stderr.strip()[-500:]}"]
        helps.append(sub.stdout)
    options = [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]
    return [
        f"`{shown}`: {name} {args[0] if helps[1:] else ''} has no option {option}"
        for option in options
        if not any(mentions(text, option) for text in helps)
    ]


def readme_problems(markdown: str) -> list[str]:
    scripts = project_scripts()
    commands = shell_commands(markdown)
    return [problem for words in commands for problem in command_problems(words, scripts)]


def test_shell_blocks_are_read_as_a_shell_would() -> None:
    markdown = (
        "Prose with `make not-in-a-block`.\n\n"
        "```bash\nA=1 make x Y=2 > log && .venv/bin/ser-train \\\n    --help   # why\n```\n\n"
        "```console\n$ ser-batch in --out o.parquet\nscored 3 files\n```\n\n"
        '```json\n{"make": 1}\n```\n'
    )
    assert shell_commands(markdown) == [
        ["make", "x", "Y=2"],
        [".venv/bin/ser-train", "--help"],
        ["ser-batch", "in", "--out", "o.parquet"],
    ]
    assert split_commands("foo 2>&1 | tee x.log; bar <in") == [["foo"], ["tee", "x.log"], ["bar"]]


@pytest.mark.slow
def test_the_check_reports_a_missing_target_command_and_option() -> None:
    markdown = (
        "```bash\nmake help\nmake no-such-target\nser-train no-such-command\n"
        "ser-train compare --seeds 3 --no-such-option\ndocker compose up --anything\n```\n"
    )
    problems = readme_problems(markdown)
    assert len(problems) == 3, problems
    assert "no-such-target" in problems[0]
    assert "no-such-command" in problems[1]
    assert "no option --no-such-option" in problems[2]


@pytest.mark.slow
@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_shell_blocks_name_only_existing_targets_clis_and_options(document: Path) -> None:
    markdown = document.read_text(encoding="utf-8")
    problems = readme_problems(markdown)
    assert not problems, "\n".join(problems)


def test_the_readme_and_the_site_give_commands() -> None:
    assert shell_commands(documents()[0].read_text(encoding="utf-8")), "README: no command"
    pages_with_commands = [p for p in documents()[1:] if shell_commands(p.read_text("utf-8"))]
    assert len(pages_with_commands) >= 5, pages_with_commands  # the parser reads the pages


@pytest.mark.parametrize("script", sorted(project_scripts()))
def test_every_project_cli_answers_help(script: str) -> None:
    assert (BIN / script).exists(), f"{script} is not installed in {BIN} (`make setup`)"
    result = cli_help(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert script in result.stdout  # its own usage line, not some other program's


def test_format_lists_are_the_accepted_formats() -> None:
    spans = [
        span
        for document in documents()
        for span in FORMATS_SPAN.findall(document.read_text(encoding="utf-8"))
    ]
    assert spans, "the docs list the accepted formats between <!-- accepted-formats --> marks"
    for span in spans:
        assert " ".join(span.split()) == describe_formats(), (
            f"the README says {span!r}; ser_contract.formats says {describe_formats()!r}"
        )


# Python blocks of the documents, each between <!-- NAME --> marks, and the test that runs it.
RUN_SNIPPETS = {"stream-client": REPO_ROOT / "tests" / "api" / "test_stream_client.py"}
MARKED_PYTHON = re.compile(r"<!-- ([a-z-]+) -->\n```python\n.*?```\n<!-- /\1 -->", re.DOTALL)


@pytest.mark.parametrize("document", documents(), ids=lambda path: path.name)
def test_every_python_snippet_is_run_by_a_test(document: Path) -> None:
    markdown = document.read_text(encoding="utf-8")
    python_blocks = [body for language, body in fenced_blocks(markdown) if language == "python"]
    marked = MARKED_PYTHON.findall(markdown)
    assert len(marked) == len(python_blocks), (
        f"{document.name}: a Python block outside <!-- name --> marks that a test runs"
    )
    for name in marked:
        assert name in RUN_SNIPPETS, f"{document.name}: no test runs the <!-- {name} --> block"
        assert f"<!-- {name} -->" in RUN_SNIPPETS[name].read_text(encoding="utf-8")
