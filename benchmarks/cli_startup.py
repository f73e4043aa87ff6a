"""Start-up time of the ``neurokd`` command: ``neurokd --help`` and every subcommand's ``--help``.

Target (issue 23): every ``--help`` under 0.3 s, without importing torch (the import check itself is a test,
``tests/cli/test_flags.py``). Each command line runs ``--rounds`` times as a fresh ``python -m neurokd``
process; the median wall time is reported, with the bare interpreter's start-up (``python -c pass``) measured
the same way for reference. Writes ``benchmarks/results/cli_startup.json``.

    python benchmarks/cli_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from neurokd.cli import build_parser
from neurokd.io import write_json

RESULTS = Path(__file__).parent / "results" / "cli_startup.json"
TARGET_S = 0.3


def commands() -> list[list[str]]:
    """``[]`` (the top level) and every subcommand path, e.g. ``["export", "nir"]``."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    out: list[list[str]] = [[]]
    for name, p in sub.choices.items():
        nested = [a for a in p._actions if a.dest == "target" and getattr(a, "choices", None)]
        out += [[name, t] for t in nested[0].choices] if nested else [[name]]
    return out


def median_wall(argv: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    python = median_wall([sys.executable, "-c", "pass"], args.rounds)
    rows = {" ".join(c) or "(top level)": median_wall([sys.executable, "-m", "neurokd", *c, "--help"], args.rounds)
            for c in commands()}
    worst = max(rows.values())
    result = {"rounds": args.rounds, "target_s": TARGET_S, "python_startup_s": round(python, 4),
              "help_s": {k: round(v, 4) for k, v in rows.items()}, "worst_s": round(worst, 4),
              "meets_target": worst < TARGET_S, "load_avg_1min": round(os.getloadavg()[0], 2)}
    write_json(args.out, result)
    for k, v in rows.items():
        print(f"{k:20s} {v * 1000:6.0f} ms")
    print(f"python -c pass {python * 1000:.0f} ms; worst --help {worst * 1000:.0f} ms (target < {TARGET_S * 1000:.0f})"
          f" -> {args.out}")


if __name__ == "__main__":
    main()
