"""Every command and Python snippet in the README and docs/*.md runs as printed, and every example script runs.

Each document runs top to bottom, as a reader with a fresh clone would, in its own scratch folder (so ``runs/...``
resolves there; ``examples/`` is the repository's): every command of its ```bash blocks must exit 0, every ```python
block, run as one script, too. Blocks a test machine cannot run (``make``, ``pip``, ``torchrun`` over several
machines or GPUs) say so in the Markdown with ``<!-- docs-test: skip (REASON) -->``; their ``neurokd`` commands are
still parsed by the real CLI parser. Files a reader brings (a CIFAR-10 copy, a torchvision state dict, a chip
profile) are written in their real formats first (``inputs.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurokd.cli import build_parser
from tests.docs.inputs import INPUTS
from tests.docs.markdown import Block, blocks, commands, neurokd_argv, plain_neurokd_argv
from tests.docs.runner import ROOT, Result, Runner, environment

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
    shown = command if block.lang == "bash" else "(python block)"
    assert "Traceback" not in r.stderr, f"{block.where}: {shown}\n{_tail(r.stderr)}"
    if block.annotation == "exit 2":
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.code == 2 and len(lines) == 1 and ": error: " in lines[0], \
            f"{block.where}: {shown} should fail with exit 2 and one error line; exit {r.code}, stderr:\n{r.stderr}"
    else:
        assert r.code == 0, f"{block.where}: {shown}\nexit {r.code}\nstdout:\n{_tail(r.stdout)}\nstderr:\n{_tail(r.stderr)}"


def run_document(doc: str, scratch: Path, runner: Runner) -> dict[str, int]:
    """Run a document's blocks in order in ``scratch``; counts of what ran and what was skipped."""
    counts = {"commands": 0, "python blocks": 0, "skipped blocks": 0}
    for block in blocks(ROOT / doc, doc):
        if block.annotation == "skip":
            counts["skipped blocks"] += 1
            continue
        if block.lang == "python":
            _check(block, block.text, runner.python(block.text, f"<{block.where}>", scratch))
            counts["python blocks"] += 1
            continue
        for command in commands(block.text):
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
    print(f"{doc}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" ({time.perf_counter() - start:.0f} s)")
    assert counts["commands"] + counts["python blocks"] > 0


def test_every_neurokd_command_in_the_docs_parses():
    """Fast: every ``neurokd`` command of every block (run or skipped) has flags the CLI knows, and every Python
    block compiles, before the slow test runs them."""
    seen = 0
    for doc in DOCS:
        for block in blocks(ROOT / doc, doc):
            if block.lang == "python":
                compile(block.text, block.where, "exec")
                continue
            for command in commands(block.text):
                argv = neurokd_argv(command)
                if argv is not None:
                    _parse(argv, block.where)
                    seen += 1
    assert seen > 50


def test_skipped_blocks_are_the_ones_a_test_machine_cannot_run():
    """A skip names a reason, and only blocks that need make, pip, torchrun or another machine are skipped."""
    skipped = [b for d in DOCS for b in blocks(ROOT / d, d) if b.annotation == "skip"]
    assert skipped
    for b in skipped:
        cannot = ("make ", "pip install", "torchrun ")
        assert any(word in b.text for word in cannot), f"{b.where}: skipped, but runs none of {cannot}"


def _tested_elsewhere(script: str) -> bool:
    """Some test outside tests/docs names the script (it runs it at settings of its own)."""
    name = Path(script).name
    return any(name in p.read_text() for p in (ROOT / "tests").rglob("*.py") if "docs" not in p.relative_to(ROOT).parts)


@pytest.mark.parametrize("script", EXAMPLES)
def test_every_example_script_runs(script, tmp_path):
    """Scripts with a test of their own are run there; any other runs here as its users would start it."""
    if _tested_elsewhere(script):
        return
    r = subprocess.run([sys.executable, script], cwd=_scratch(tmp_path), env=environment(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"{script}: exit {r.returncode}\n{_tail(r.stderr)}"


# The extraction itself: what counts as a command, a plain neurokd command, an annotation.

def test_commands_join_continuations_and_drop_comment_lines():
    script = "# set-up\nneurokd a \\\n    --b 1   # note\n\n  # more\nOMP_X=1 neurokd c\n"
    assert commands(script) == ["neurokd a \\\n    --b 1   # note", "OMP_X=1 neurokd c"]


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
    md.write_text("<!-- docs-test: skip (needs two machines) -->\n\n```bash\nmake demo\n```\n"
                  "<!-- docs-test: exit 2 -->\n```bash\nneurokd train --lr fast\n```\n```python\nprint(1)\n```\n"
                  "```yaml\na: 1\n```\n")
    got = [(b.lang, b.line, b.annotation, b.reason) for b in blocks(md)]
    assert got == [("bash", 3, "skip", "needs two machines"), ("bash", 7, "exit 2", None), ("python", 10, None, None)]
    md.write_text("<!-- docs-test: skip -->\n```bash\nmake\n```\n")
    with pytest.raises(ValueError, match="x.md:1: a docs-test skip must say why"):
        blocks(md)
    md.write_text("<!-- docs-test: maybe -->\n```bash\nmake\n```\n")
    with pytest.raises(ValueError, match="x.md:1: unreadable docs-test annotation"):
        blocks(md)
