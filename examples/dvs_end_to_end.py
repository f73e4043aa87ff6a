"""Event camera, end to end: saccade-digits -> teacher -> distilled SNN -> NIR -> Loihi 2 fixed point -> energy.

    python examples/dvs_end_to_end.py [--out runs/dvs_end_to_end] [--T 6] [--epochs 4] [--kd response]

1. ``saccade-digits``: scikit-learn's digits recorded by a simulated DVS camera saccading over them (events
   ``(x, y, t, p)``), binned into ``T`` frames per recording.
2. An ANN teacher trained on the accumulated frames; a spiking student distilled from it on the event frames
   (``neurokd.distill``: response KD by default, ``--kd feature`` / ``response+feature`` also work).
3. The test set as one event stream, run window by window through the student (state carried across windows).
4. NIR export, re-imported and checked spike for spike; Loihi 2 netx export, checked on the bit-accurate NumPy
   fixed-point model (and on Lava's simulator when Lava is installed); the test stream again through the
   fixed-point network (``loihi-fixed`` stream backend).
5. SynOps / energy / chip-fit report against the teacher (``<out>/hardware/report.md``).

Writes ``<out>/summary.json`` (everything; ``summary["dvs"]`` holds the headline numbers) and
``<out>/results.md``. ``neurokd demo --dvs`` runs the same function (:func:`run_dvs_pipeline`) under
``runs/demo/dvs``. About 2.5 minutes with the defaults on 2 CPU cores shared with other jobs, run with
``OMP_NUM_THREADS=1`` (two threads on a loaded machine took 16 minutes: contention).
"""

from __future__ import annotations

import argparse
import json
import sys

from neurokd.demo.dvs import DVS_EPOCHS, DVS_T, dvs_summary, run_dvs_pipeline
from neurokd.errors import UserError

HEADLINE = ["teacher_test_acc", "test_acc", "stream_acc", "nir_spike_equal", "fixed_acc", "fixed_stream_acc",
            "events_per_s", "p95_window_ms", "synops_per_sample"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/dvs_end_to_end", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=DVS_T, help="frames per recording = SNN time steps")
    p.add_argument("--epochs", type=int, default=DVS_EPOCHS, help="training epochs (teacher and student)")
    p.add_argument("--width", type=int, default=16, help="cnn width (channels of the first conv)")
    p.add_argument("--kd", default="response", choices=["response", "feature", "response+feature"],
                   help="distillation method")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    try:
        ctx = run_dvs_pipeline(args.out, seed=args.seed, T=args.T, epochs=args.epochs, width=args.width,
                               kd={"distill.method": args.kd}, progress=not args.no_progress)
    except UserError as e:
        print(f"dvs_end_to_end: {e}", file=sys.stderr)
        return 2
    s = dvs_summary(ctx)
    print((ctx.out_dir / "results.md").read_text())
    print(json.dumps({k: s[k] for k in HEADLINE}, indent=2))
    energy = ", ".join(f"{chip} {uj:.3g}" for chip, uj in s["energy_uj"].items() if uj is not None)
    print(f"energy uJ/sample: {energy}  (report: {s['energy_report']})")
    print(f"summary: {ctx.out_dir / 'summary.json'}  ({s['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
