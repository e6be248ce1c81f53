"""What the README and the documentation site tell a person to type: their shell commands,
parsed without running them. ``documents()`` is the README and every page under ``docs/``.

Commands come from fenced ``bash``/``sh``/``shell``/``console`` blocks (in ``console`` blocks
only the lines after a ``$`` prompt; the rest is output) and, for ``make`` targets, from inline
code spans too (the README's tables name targets that way). A command is its words after any
leading ``NAME=value`` assignments; comments, redirections and operators (``&&``, ``|``, ``;``)
are understood as a shell would, so ``a && b # c`` is two commands.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "zsh"})
FENCE = re.compile(
    r"^[ \t]*(?P<fence>```|~~~)[ \t]*(?P<info>[^\n]*)\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
CODE_SPAN = re.compile(r"`([^`]+)`")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PUNCTUATION = "();<>|&"  # shlex's punctuation_chars: a token of these is an operator
FD_BEFORE_REDIRECTION = re.compile(r"(?<=\s)\d+(?=[<>])")  # the 2 of `2>&1`: no word either
PROMPT = re.compile(r"^\s*\$(?:\s+|$)")
# Directories that hold no component of the project (and, for .venv, thousands of files).
NOT_COMPONENTS = frozenset({"node_modules", "__pycache__", "models", "artifacts"})


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def documents() -> list[Path]:
    """The README and every Markdown page of the documentation site, README first."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def documents_text() -> str:
    """Every document's text, one after another (each ends its own code blocks)."""
    return "\n\n".join(path.read_text(encoding="utf-8") for path in documents())


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order; language lower-cased, may be ''."""
    blocks = []
    for match in FENCE.finditer(markdown):
        info = match.group("info").split()
        blocks.append((info[0].lower() if info else "", match.group("body")))
    return blocks


def command_lines(language: str, body: str) -> list[str]:
    """The command lines of one block, each with its ``\\``-continued lines joined."""
    lines: list[str] = []
    continued = False
    for line in body.splitlines():
        if language == "console" and not continued:
            prompt = PROMPT.match(line)
            if prompt is None:
                continue  # output
            line = line[prompt.end() :]
        if continued:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.strip())
        continued = lines[-1].endswith("\\")
        if continued:
            lines[-1] = lines[-1][:-1].rstrip()
    return [line for line in lines if line]


def split_commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line: words, with assignments, redirections and
    comments left out. ``A=1 make x > log && ser-train --help # why`` gives
    ``[["make", "x"], ["ser-train", "--help"]]``. Raises ValueError on unbalanced quotes."""
    line = FD_BEFORE_REDIRECTION.sub("", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=PUNCTUATION)
    lexer.whitespace_split = True  # words split at blanks and operators only, as a shell does
    commands: list[list[str]] = []
    words: list[str] = []
    redirect_target = False
    for token in lexer:
        if redirect_target:  # the file (or descriptor) a redirection names is no word either
            redirect_target = False
        elif token and all(char in PUNCTUATION for char in token):
            if "<" in token or ">" in token:
                redirect_target = True
            else:  # &&, ||, |, ;, &, parentheses: the command ends here
                commands.append(words)
                words = []
        elif words or not ASSIGNMENT.match(token):
            words.append(token)
    commands.append(words)
    return [words for words in commands if words]


def shell_commands(markdown: str) -> list[list[str]]:
    """Every simple command of the fenced shell blocks of ``markdown``."""
    return [
        words
        for language, body in fenced_blocks(markdown)
        if language in SHELL_LANGUAGES
        for line in command_lines(language, body)
        for words in split_commands(line)
    ]


def code_span_commands(markdown: str) -> list[list[str]]:
    """Every simple command written as inline code (outside fenced blocks)."""
    prose = FENCE.sub("", markdown)
    commands = []
    for span in CODE_SPAN.findall(prose):
        try:
            commands += split_commands(" ".join(span.split()))
        except ValueError:  # not a command (an unbalanced quote in a code fragment)
            continue
    return commands


def make_targets(words: list[str]) -> list[str]:
    """The targets of one ``make`` command: its words that are no option and no assignment."""
    if not words or Path(words[0]).name != "make":
        return []
    return [w for w in words[1:] if not w.startswith("-") and "=" not in w]


def readme_make_targets(markdown: str) -> set[str]:
    """Every ``make`` target the README names, in shell blocks or inline code."""
    commands = shell_commands(markdown) + code_span_commands(markdown)
    return {target for words in commands for target in make_targets(words)}


def project_scripts(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Console script → the pyproject.toml that defines it, for every component of the
    project (hidden directories such as .venv are not searched)."""
    scripts: dict[str, Path] = {}
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [
            d for d in subdirectories if not d.startswith(".") and d not in NOT_COMPONENTS
        ]
        if "pyproject.toml" in files:
            path = Path(directory) / "pyproject.toml"
            project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
            scripts |= dict.fromkeys(project.get("scripts", {}), path)
    return scripts
