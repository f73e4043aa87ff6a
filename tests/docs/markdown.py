"""The runnable blocks of a Markdown document: fenced shell and Python blocks, and the commands in them.

Shell blocks are ```bash, ```sh, ```shell (every line a command) and ```console (commands after a ``$ ``
prompt, other lines are output). A block may be preceded (on the line before its fence, blank lines allowed)
by one annotation the docs test obeys, visible to a reader of the Markdown source:

- ``<!-- docs-test: skip (KIND: REASON) -->``: not run; KIND is one of ``SKIP_KINDS`` (``make``, ``pip``,
  ``torchrun``, ``gpu``, ``hardware``, ``hours``). Every ``neurokd`` command in it is still parsed by the real
  CLI parser, so its flags are checked.
- ``<!-- docs-test: exit N -->``: every command in the block must exit with code N (a documented failure);
  with ``exit 2`` the user-error form too: one ``neurokd: error:`` line.

A shell block is split into commands the way a shell reads it: a line ending in ``\\`` continues on the next,
blank lines and whole-line comments are not commands. Lines starting with ``neurokd `` in any other block (a
```text usage synopsis such as ``neurokd demo [--out DIR] [--dvs]``) are parsed with their brackets dropped.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SHELL = ("bash", "sh", "shell", "console")
RUNNABLE = (*SHELL, "python")
SKIP_KINDS = ("make", "pip", "torchrun", "gpu", "hardware", "hours")
FENCE = re.compile(r"^```(\S*)\s*$")
ANNOTATION = re.compile(r"^<!--\s*docs-test:\s*(?P<kind>skip|exit \d+)\s*(?:\((?P<reason>.*)\))?\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its document, the line of its opening fence (1-based), language and text."""

    doc: str
    line: int
    lang: str
    text: str
    annotation: str | None = None  # "skip" or "exit N"
    reason: str | None = None  # the skip's stated reason, "KIND: why"

    @property
    def exit_code(self) -> int:
        """The exit code every command of the block must end with."""
        exits = self.annotation is not None and self.annotation.startswith("exit")
        return int(self.annotation.split()[1]) if exits else 0

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(path: Path, name: str | None = None, langs: tuple[str, ...] | None = RUNNABLE) -> list[Block]:
    """The fenced blocks of a Markdown file in these languages (default: shell and Python; None: all, an
    unlabelled fence's language being ""), in document order. An annotation that does not parse, a skip
    without a known KIND and its reason, or an unclosed fence raises ValueError naming the line."""
    name = name or path.name
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            text = lines[i].strip()
            if text.startswith("<!--") and "docs-test" in text and not ANNOTATION.match(text):
                raise ValueError(f"{name}:{i + 1}: unreadable docs-test annotation {lines[i].strip()!r}")
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{name}:{i + 1}: unclosed code fence")
        if langs is None or m.group(1) in langs:
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
    kind, _, why = (m["reason"] or "").partition(":")
    if m["kind"] == "skip" and (kind.strip() not in SKIP_KINDS or not why.strip()):
        raise ValueError(f"{name}:{j + 1}: a docs-test skip must say why: "
                         f"<!-- docs-test: skip (KIND: REASON) --> with KIND one of {', '.join(SKIP_KINDS)}")
    return m["kind"], m["reason"]


def commands(script: str, lang: str = "bash") -> list[str]:
    """The commands of a shell block, each as printed (continuation lines joined with their backslashes; in a
    ```console block only the lines after a ``$ `` prompt, without it)."""
    out: list[str] = []
    current = ""
    for line in script.splitlines():
        if not current and lang == "console":
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.endswith("\\"):
            out.append(current.rstrip("\n"))
            current = ""
    if current:
        out.append(current.rstrip("\n"))
    return out


def synopsis_argv(line: str) -> list[str] | None:
    """``neurokd ARGS`` of a usage synopsis line (optional parts in brackets) as a full command's arguments,
    else None: ``neurokd demo [--out runs/demo] [--dvs]`` -> ``["demo", "--out", "runs/demo", "--dvs"]``."""
    if not line.startswith("neurokd "):
        return None
    return words(re.sub(r"[\[\]]", " ", line))[1:]


def words(command: str) -> list[str]:
    """A command's words as the shell splits them (quotes, backslash-newlines, ``# comments``); operators such
    as ``>``, ``|`` or ``&&`` are words of their own."""
    lexer = shlex.shlex(command.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def _is_operator(word: str) -> bool:
    return bool(word) and set(word) <= set("();<>|&")


def neurokd_argv(command: str) -> list[str] | None:
    """The arguments of the ``neurokd`` command a shell command starts: ``neurokd ARGS``, ``ENV=x neurokd
    ARGS``, ``python -m neurokd ARGS`` or ``torchrun ... -m neurokd ARGS`` (up to a redirection or the next
    command); None if it starts no ``neurokd``."""
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
    redirections, pipes or globs outside quotes): its arguments, else None. Such a command is the same run in
    any process that calls what the console script calls, ``neurokd.cli.main(ARGS)``."""
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
