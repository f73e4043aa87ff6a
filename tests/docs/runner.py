"""Run a document's blocks in a scratch folder: shell commands through bash, plain ``neurokd`` commands and
Python blocks through the fork server (``forkserver.py``: the same calls without re-importing torch for
each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.docs.markdown import plain_neurokd_argv

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def environment() -> dict[str, str]:
    """This environment with the project's interpreter and ``neurokd`` first on PATH, as in an activated
    venv."""
    bin_dir = str(Path(sys.executable).parent)
    path = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return {**os.environ, "PATH": path, "VIRTUAL_ENV": str(Path(bin_dir).parent)}


class Runner:
    """One fork server for a test session; ``command`` and ``python`` run one printed command or block."""

    def __init__(self) -> None:
        self._server = subprocess.Popen([sys.executable, "-m", "tests.docs.forkserver"], cwd=ROOT,
                                        env=environment(),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self._server.stdout.readline()
        if json.loads(ready or "{}").get("ready") is not True:
            raise RuntimeError(f"the docs fork server did not start: {ready!r}")
        self._count = 0
        self._logs = Path(tempfile.mkdtemp(prefix="docs-test-logs-"))

    def close(self) -> None:
        self._server.stdin.close()
        self._server.wait(timeout=60)
        self._logs.rmdir()

    def command(self, text: str, cwd: Path) -> Result:
        """A shell command as printed: a plain ``neurokd ARGS`` by fork, anything else by ``bash -c``."""
        argv = plain_neurokd_argv(text)
        if argv is not None:
            return self._forked({"argv": argv}, cwd)
        try:
            r = subprocess.run(["bash", "-o", "pipefail", "-c", text], cwd=cwd, env=environment(),
                               capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            return Result(124, e.stdout or "", f"timed out after {TIMEOUT_S} s")
        return Result(r.returncode, r.stdout, r.stderr)

    def python(self, code: str, name: str, cwd: Path) -> Result:
        """A Python block as one script, run as ``__main__`` in ``cwd``."""
        return self._forked({"python": code, "name": name}, cwd)

    def _forked(self, request: dict, cwd: Path) -> Result:
        self._count += 1
        out, err = self._logs / f"{self._count}.out", self._logs / f"{self._count}.err"
        request = {**request, "cwd": str(cwd), "stdout": str(out), "stderr": str(err), "timeout": TIMEOUT_S}
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        reply = json.loads(self._server.stdout.readline())
        result = Result(reply["code"], out.read_text(), err.read_text())
        out.unlink()
        err.unlink()
        return result
