"""``neurokd demo``: the whole job, end to end, on the embedded digits dataset.

The demo is a list of stages (:data:`STAGES`); each stage trains, exports or measures something, adds rows to
the results table and a section to ``<out>/summary.json``. The summary is rewritten atomically after every
stage, so an interrupted demo still leaves a valid summary of what finished. Later features add stages.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurokd.data import load_dataset
from neurokd.demo.context import TABLE_HEADERS, DemoContext
from neurokd.demo.dvs import stage_dvs
from neurokd.demo.hardware_stage import stage_hardware
from neurokd.demo.lava_stage import stage_lava, stage_lava_residual
from neurokd.demo.nir_stage import stage_nir
from neurokd.demo.training import stage_snn, stage_snn_blockwise, stage_snn_kd, stage_teacher
from neurokd.io import write_text
from neurokd.tables import markdown_table

# Run in order; each takes the DemoContext. The stage's name is the function's without ``stage_``.
STAGES: list[Callable[[DemoContext], None]] = [
    stage_teacher,
    stage_snn,
    stage_snn_kd,
    stage_snn_blockwise,
    stage_nir,
    stage_lava,
    stage_lava_residual,
    stage_hardware,
    stage_dvs,  # only with --dvs
]


def run_demo(out_dir: str | Path = "runs/demo", seed: int = 0, T: int = 4, progress: bool = True,
             dvs: bool = False) -> dict[str, Any]:
    ctx = DemoContext(Path(out_dir), seed=seed, T=T, progress=progress, dvs=dvs)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    ctx.splits = load_dataset(ctx.config("demo", {}).data, seed)
    ctx.summary.update({"dataset": "digits", "T": T, "seed": seed})
    t0 = time.perf_counter()
    ctx.summary["stage_seconds"] = {}
    ctx.summary["stage_cpu_seconds"] = {}  # CPU time of this process (all its threads): comparable under load
    for stage in STAGES:
        name = stage.__name__.removeprefix("stage_")
        print(f"== demo stage: {name}", file=sys.stderr)
        t_stage, cpu_stage = time.perf_counter(), time.process_time()
        stage(ctx)
        ctx.summary["stage_seconds"][name] = round(time.perf_counter() - t_stage, 1)
        ctx.summary["stage_cpu_seconds"][name] = round(time.process_time() - cpu_stage, 1)
        ctx.summary["demo_seconds"] = round(time.perf_counter() - t0, 1)
        ctx.save()
    table = markdown_table(TABLE_HEADERS, ctx.rows)
    write_text(ctx.out_dir / "results.md", table + "\n")
    print(table)
    print(f"\nsummary: {ctx.out_dir / 'summary.json'}  ({ctx.summary['demo_seconds']}s)")
    return ctx.summary
