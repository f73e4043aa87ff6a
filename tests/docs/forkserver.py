"""A process that has imported neurokd, torch and the libraries commands load, and forks one child per
command.

A ``neurokd`` process spends seconds importing torch, scikit-learn and the exporters before it does anything;
the documents hold dozens of commands, so the docs test starts this server once and forks it per plain
``neurokd`` command and per Python block. The fork is a fresh process (own state, own threads: the server
never runs a torch op, so no OpenMP team exists to be inherited) that calls what the ``neurokd`` console
script calls, ``neurokd.cli.main(ARGS)``, or executes a Python block as ``__main__``. The OpenMP policy of the
``neurokd`` command is applied first, as the console script does, by importing ``neurokd.cli``.

Protocol: one JSON request per line on stdin, ``{"argv": [...]}`` or ``{"python": CODE, "name": NAME}``, with
``"cwd"``, ``"stdout"``, ``"stderr"`` (file paths) and ``"timeout"`` (seconds); one JSON line back, ``{"code":
EXIT_CODE}`` (124 after the timeout; the child's whole process group is killed).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback

import neurokd.cli  # noqa: F401  (first: sets the OpenMP policy before torch loads)

PRELOAD = (
    "torch", "numpy", "sklearn.datasets", "matplotlib.figure", "h5py", "safetensors.torch", "nir", "yaml",
    "tqdm",
    "torch._decomp", "torch._refs", "torch.utils.data",
    "neurokd", "neurokd.data", "neurokd.data.digits", "neurokd.data.events", "neurokd.models", "neurokd.snn",
    "neurokd.train", "neurokd.distill", "neurokd.eval", "neurokd.stream", "neurokd.runs",
    "neurokd.exporters.nir", "neurokd.exporters.lava", "neurokd.hardware",
)


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def _child(request: dict) -> int:
    os.setpgid(0, 0)  # so a timeout kills the command and every process it started (Lava's workers)
    os.chdir(request["cwd"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(stdin, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    try:
        if "argv" in request:
            sys.argv = ["neurokd", *request["argv"]]
            return neurokd.cli.main(request["argv"])
        sys.argv = [request["name"]]
        exec(compile(request["python"], request["name"], "exec"), {"__name__": "__main__"})
        return 0
    except SystemExit as e:  # argparse, sys.exit() in a snippet
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124
        time.sleep(0.05)


def serve() -> None:
    preload()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                os._exit(code)
        print(json.dumps({"code": _wait(pid, request["timeout"])}), flush=True)


if __name__ == "__main__":
    serve()
