"""The runnable blocks of a Markdown document: fenced ```bash and ```python blocks, and the commands in them.

A block may be preceded (on the line before its fence, blank lines allowed) by one annotation the docs test obeys,
visible to a reader of the Markdown source:

- ``<!-- docs-test: skip (REASON) -->``: not run (multi-node ``torchrun``, ``make``, ``pip``, a GPU); every
  ``neurokd`` command in it is still parsed by the real CLI parser, so its flags are checked.
- ``<!-- docs-test: exit 2 -->``: every command in the block must fail as user errors do: exit code 2 and one
  error line.

A bash block is split into commands the way a shell reads it: a line ending in ``\\`` continues on the next,
blank lines and whole-line comments are not commands.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

RUNNABLE = ("bash", "python")
FENCE = re.compile(r"^```(\S*)\s*$")
ANNOTATION = re.compile(r"^<!--\s*docs-test:\s*(?P<kind>skip|exit 2)\s*(?:\((?P<reason>.*)\))?\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its document, the line of its opening fence (1-based), language and text."""

    doc: str
    line: int
    lang: str
    text: str
    annotation: str | None = None  # "skip" or "exit 2"
    reason: str | None = None  # the skip's stated reason

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(path: Path, name: str | None = None, langs: tuple[str, ...] = RUNNABLE) -> list[Block]:
    """The fenced blocks of a Markdown file in these languages (default ```bash and ```python), in document
    order. An annotation that does not parse, a skip without its reason, or an unclosed fence raises ValueError
    naming the line."""
    name = name or path.name
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if "docs-test" in lines[i] and not ANNOTATION.match(lines[i].strip()):
                raise ValueError(f"{name}:{i + 1}: unreadable docs-test annotation {lines[i].strip()!r}")
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{name}:{i + 1}: unclosed code fence")
        if m.group(1) in langs:
            kind, reason = _annotation(lines, i, name)
            found.append(Block(name, i + 1, m.group(1), "\n".join(lines[i + 1:end]) + "\n", kind, reason))
        i = end + 1
    return found


def _annotation(lines: list[str], fence: int, name: str) -> tuple[str | None, str | None]:
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    m = ANNOTATION.match(lines[j].strip()) if j >= 0 else None
    if not m:
        return None, None
    if m["kind"] == "skip" and not (m["reason"] or "").strip():
        raise ValueError(f"{name}:{j + 1}: a docs-test skip must say why: <!-- docs-test: skip (REASON) -->")
    return m["kind"], m["reason"]


def commands(script: str) -> list[str]:
    """The commands of a bash block, each as printed (continuation lines joined with their backslashes)."""
    out: list[str] = []
    current = ""
    for line in script.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.endswith("\\"):
            out.append(current.rstrip("\n"))
            current = ""
    if current:
        out.append(current.rstrip("\n"))
    return out


def words(command: str) -> list[str]:
    """A command's words as the shell splits them (quotes, backslash-newlines, ``# comments``); operators such as
    ``>``, ``|`` or ``&&`` are words of their own."""
    lexer = shlex.shlex(command.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _is_operator(word: str) -> bool:
    return bool(word) and set(word) <= set("();<>|&")


def neurokd_argv(command: str) -> list[str] | None:
    """The arguments of the ``neurokd`` command a shell command starts: ``neurokd ARGS``, ``ENV=x neurokd ARGS``,
    ``python -m neurokd ARGS`` or ``torchrun ... -m neurokd ARGS`` (up to a redirection or the next command);
    None if it starts no ``neurokd``."""
    ws = words(command)
    ws = ws[:next((k for k, w in enumerate(ws) if _is_operator(w)), len(ws))]
    while ws and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", ws[0]):
        ws = ws[1:]
    if ws and ws[0] == "neurokd":
        return ws[1:]
    for k in range(len(ws) - 1):
        if ws[k] == "-m" and ws[k + 1] == "neurokd":
            return ws[k + 2:]
    return None


SHELL_SYNTAX = set("|&;<>()$`*?[]{}~!")


def plain_neurokd_argv(command: str) -> list[str] | None:
    """``neurokd ARGS`` with nothing for a shell to do but split words (no environment prefix, variables,
    redirections, pipes or globs outside quotes): its arguments, else None. Such a command is the same run in any
    process that calls what the console script calls, ``neurokd.cli.main(ARGS)``."""
    ws = words(command)
    if not ws or ws[0] != "neurokd" or _has_shell_syntax(command):
        return None
    return ws[1:]


def _has_shell_syntax(command: str) -> bool:
    quote, previous = None, " "
    for ch in command:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and previous.isspace():
            return False  # the rest is a comment
        elif ch in SHELL_SYNTAX:
            return True
        previous = ch
    return False
