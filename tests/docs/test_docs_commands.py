"""Every command and Python snippet in the README and docs/*.md runs as printed (the project's rule: "docs'
commands and examples are run by tests"); docs/architecture.md, "Docs are tests", says the same for
contributors.

Each document (a new ``docs/*.md`` is picked up by itself) runs top to bottom, as a reader with a fresh clone
would, in its own scratch folder (so ``runs/...`` resolves there; ``examples/`` is the repository's): every
command of its shell blocks must exit 0, every ```python block, run as one script, too. A command that depends
on an earlier one (a run folder it wrote) comes after it in the same document. Nothing is rewritten: the test
adds no flags, so a document shows the small settings it is tested at (a few epochs, ``--limit``) and says in
words what the full-size run takes. Annotations (``markdown.py``):

- ``<!-- docs-test: skip (KIND: REASON) -->`` before a block that needs what a test machine lacks (``make``,
  ``pip``, ``torchrun`` over several processes, a GPU, neuromorphic hardware, hours); its ``neurokd`` commands
  are still parsed by the real CLI parser, so a renamed flag fails here too.
- ``<!-- docs-test: exit N -->`` before a block that shows a failure on purpose (exit 2: one error line).

Files a reader brings (a CIFAR-10 copy, a torchvision state dict, a chip profile) are written in their real
formats first (``inputs.py``). Example scripts are run by their own tests (``tests/examples/`` and others);
here each is only checked to have one.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from neurokd.cli import build_parser
from tests.docs.inputs import INPUTS
from tests.docs.markdown import (
    SHELL,
    SKIP_KINDS,
    Block,
    blocks,
    commands,
    neurokd_argv,
    plain_neurokd_argv,
    synopsis_argv,
)
from tests.docs.runner import ROOT, Result, Runner

DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
RUNNABLE_DOCS = [d for d in DOCS if any(b.annotation != "skip" for b in blocks(ROOT / d, d))]
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.py"))


def _parse(argv: list[str], where: str) -> None:
    """``neurokd ARGS`` through the real parser (no command runs): exit 2 on a flag it does not know."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code == 0, f"{where}: `neurokd {' '.join(argv)}` does not parse (exit {e.code})"


def _tail(text: str, n: int = 3000) -> str:
    return text[-n:]


def _check(block: Block, command: str, r: Result) -> None:
    shown = command if block.lang in SHELL else "(python block)"
    assert "Traceback" not in r.stderr, f"{block.where}: {shown}\n{_tail(r.stderr)}"
    assert r.code == block.exit_code, (f"{block.where}: {shown}\nexit {r.code}, not {block.exit_code}\n"
                                       f"stdout:\n{_tail(r.stdout)}\nstderr:\n{_tail(r.stderr)}")
    if block.exit_code == 2:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("neurokd: error: "), \
            f"{block.where}: {shown} should fail with one error line; stderr:\n{r.stderr}"


def run_document(doc: str, scratch: Path, runner: Runner) -> dict[str, int]:
    """Run a document's blocks in order in ``scratch``; counts of what ran and what was skipped."""
    counts = {"commands": 0, "python blocks": 0, "parsed-only commands": 0}
    for block in blocks(ROOT / doc, doc):
        if block.annotation == "skip":
            shell = block.lang in SHELL
            counts["parsed-only commands"] += len(commands(block.text, block.lang)) if shell else 1
            continue
        if block.lang == "python":
            _check(block, block.text, runner.python(block.text, f"<{block.where}>", scratch))
            counts["python blocks"] += 1
            continue
        for command in commands(block.text, block.lang):
            _check(block, command, runner.command(command, scratch))
            counts["commands"] += 1
    return counts


@pytest.fixture(scope="module")
def runner():
    r = Runner()
    yield r
    r.close()


def _scratch(tmp_path: Path) -> Path:
    """A folder like a fresh clone's root for a reader's commands: ``examples/`` is the repository's."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("doc", RUNNABLE_DOCS)
def test_document_runs_as_printed(doc, tmp_path, runner):
    scratch = _scratch(tmp_path)
    for write in INPUTS.get(doc, []):
        write(scratch)
    start = time.perf_counter()
    counts = run_document(doc, scratch, runner)
    ran = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"{doc}: {ran} ({time.perf_counter() - start:.0f} s)")
    assert counts["commands"] + counts["python blocks"] > 0


def test_every_neurokd_command_in_the_docs_parses():
    """Fast: every ``neurokd`` command of every block (run or skipped) and every usage synopsis has flags the
    CLI knows, and every Python block compiles, before the slow test runs them."""
    seen = 0
    for doc in DOCS:
        for block in blocks(ROOT / doc, doc, langs=None):
            if block.lang == "python":
                compile(block.text, block.where, "exec")
                continue
            if block.lang in SHELL:
                argvs = [neurokd_argv(c) for c in commands(block.text, block.lang)]
            else:
                argvs = [synopsis_argv(line) for line in block.text.splitlines()]
            for argv in argvs:
                if argv is not None:
                    _parse(argv, block.where)
                    seen += 1
    assert seen > 50


def test_skipped_blocks_need_what_a_test_machine_lacks():
    """A skip names its kind and reason, and a make / pip / torchrun / gpu skip runs that tool or device."""
    skipped = [b for d in DOCS for b in blocks(ROOT / d, d) if b.annotation == "skip"]
    assert skipped
    shows = {"make": "make ", "pip": "pip install", "torchrun": "torchrun ", "gpu": "cuda"}
    assert set(shows) <= set(SKIP_KINDS)
    for b in skipped:
        kind = b.reason.split(":")[0]
        assert kind not in shows or shows[kind] in b.text, f"{b.where}: a {kind} skip, but no {shows[kind]!r}"


def test_every_example_script_has_a_test():
    """Each script under examples/ is run by a test outside tests/docs (at settings of its own)."""
    tests = [p.read_text() for p in (ROOT / "tests").rglob("*.py") if "docs" not in p.relative_to(ROOT).parts]
    for script in EXAMPLES:
        name = Path(script).name
        assert any(name in text for text in tests), f"{script}: no test runs it; add one (tests/examples/)"


# The extraction itself: what counts as a command, a plain neurokd command, an annotation.

def test_commands_join_continuations_and_drop_comment_lines():
    script = "# set-up\nneurokd a \\\n    --b 1   # note\n\n  # more\nOMP_X=1 neurokd c\n"
    assert commands(script) == ["neurokd a \\\n    --b 1   # note", "OMP_X=1 neurokd c"]


def test_console_commands_are_the_prompted_lines():
    script = "$ neurokd eval runs/a \\\n    --json\n{\"acc\": 0.9}\n$ ls runs\na\n"
    assert commands(script, "console") == ["neurokd eval runs/a \\\n    --json", "ls runs"]


def test_synopsis_lines_drop_their_brackets():
    assert synopsis_argv("neurokd demo [--out runs/demo] [--T 4] [--dvs]") == ["demo", "--out", "runs/demo",
                                                                               "--T", "4", "--dvs"]
    assert synopsis_argv("neurokd: error: x") is None and synopsis_argv("python x.py [--out D]") is None


def test_a_renamed_flag_fails_the_parse():
    _parse(["train", "--epochs", "2"], "x.md:1")
    with pytest.raises(AssertionError, match="x.md:1: `neurokd train --epoch-count 2` does not parse"):
        _parse(["train", "--epoch-count", "2"], "x.md:1")


@pytest.mark.parametrize("command,argv,plain", [
    ("neurokd eval runs/a --json   # a comment", ["eval", "runs/a", "--json"], True),
    ('neurokd distill --taps "stage3=Relu_/stage3/x" --name k', ["distill", "--taps", "stage3=Relu_/stage3/x",
                                                                  "--name", "k"], True),
    ("OMP_WAIT_POLICY=ACTIVE neurokd train --name x", ["train", "--name", "x"], False),
    ("torchrun --nproc_per_node 4 -m neurokd train -c a.yaml", ["train", "-c", "a.yaml"], False),
    ("neurokd eval runs/* > log", ["eval", "runs/*"], False),
    ("neurokd eval $RUN", ["eval", "$RUN"], False),
    ("python -c 'print(1)'", None, False),
])
def test_neurokd_commands_are_recognised(command, argv, plain):
    assert neurokd_argv(command) == argv
    assert plain_neurokd_argv(command) == (argv if plain else None)


def test_annotations(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("<!-- docs-test: skip (torchrun: two machines) -->\n\n```bash\nmake demo\n```\n"
                  "<!-- docs-test: exit 2 -->\n```sh\nneurokd train --lr fast\n```\n"
                  "```python\nprint(1)\n```\n"
                  "```yaml\na: 1\n```\nProse naming docs-test annotations is prose.\n"
                  "<!-- docs-test: exit 1 -->\n```console\n$ false\n```\n")
    got = [(b.lang, b.line, b.annotation, b.reason, b.exit_code) for b in blocks(md)]
    assert got == [("bash", 3, "skip", "torchrun: two machines", 0), ("sh", 7, "exit 2", None, 2),
                   ("python", 10, None, None, 0), ("console", 18, "exit 1", None, 1)]
    assert [b.lang for b in blocks(md, langs=None)] == ["bash", "sh", "python", "yaml", "console"]
    for bad in ("skip", "skip (needs two machines)", "skip (hours:)"):
        md.write_text(f"<!-- docs-test: {bad} -->\n```bash\nmake\n```\n")
        with pytest.raises(ValueError, match="x.md:1: a docs-test skip must say why"):
            blocks(md)
    md.write_text("<!-- docs-test: maybe -->\n```bash\nmake\n```\n")
    with pytest.raises(ValueError, match="x.md:1: unreadable docs-test annotation"):
        blocks(md)
    md.write_text("```bash\nneurokd eval\n")
    with pytest.raises(ValueError, match="x.md:1: unclosed code fence"):
        blocks(md)
