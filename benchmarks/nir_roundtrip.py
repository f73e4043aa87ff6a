"""NIR round trip time: export (``to_nir`` + ``save``) and import (``read`` + ``from_nir``) of the resnet19 SNN.

Target (issue 5): export + import under 5 s on CPU. The model is neurokd's ``resnet19`` SNN (CIFAR stem,
128/256/512 channels, 3x32x32 input, 10 classes, T = 4; 12.6 M parameters, BN folded on export). Each round
times both steps without compression (``neurokd.exporters.nir.save``'s default) and with gzip (nir's default); the
median over rounds is reported, as wall time and as this process's CPU time (``total_cpu_s``: the
single-threaded work, which shared-machine load inflates less than wall time). After timing, the re-imported network is checked spike for spike against the
BN-folded model on 4 random inputs (BN statistics set from them so that the random-weight net spikes). Writes ``benchmarks/results/nir_roundtrip.json``.

    python benchmarks/nir_roundtrip.py [--rounds N] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import nir
import torch

from neurokd.exporters.nir import compare_spikes, from_nir, read, save, to_nir
from neurokd.exporters.nir.verify import calibrate_activity
from neurokd.io import write_json
from neurokd.models import ModelSpec, build_model, count_parameters
from neurokd.models.fold import fold_batchnorm

RESULTS = Path(__file__).parent / "results" / "nir_roundtrip.json"
TARGET_S = 5.0


def time_roundtrip(model, folder: Path, compression: str | None) -> dict[str, float]:
    path = folder / f"resnet19-{compression or 'none'}.nir"
    t0, c0 = time.perf_counter(), time.process_time()
    save(to_nir(model), path, compression=compression)
    t1, _c1 = time.perf_counter(), time.process_time()
    net = from_nir(read(path))
    t2, c2 = time.perf_counter(), time.process_time()
    assert net.output_shape == [10]
    return {"export_s": t1 - t0, "import_s": t2 - t1, "total_s": t2 - t0, "total_cpu_s": c2 - c0,
            "file_mb": path.stat().st_size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="resnet19", kind="snn", T=4, num_classes=10, input_shape=[3, 32, 32]))
    model.eval()
    modes: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        time_roundtrip(model, Path(tmp), None)  # warm-up: imports, allocator, oneDNN primitives
        for name, compression in (("uncompressed", None), ("gzip", "gzip")):
            runs = [time_roundtrip(model, Path(tmp), compression) for _ in range(args.rounds)]
            modes[name] = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
            modes[name]["total_s_all_rounds"] = [round(r["total_s"], 3) for r in runs]
            print(name, modes[name], flush=True)
        x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        calibrate_activity(model, x)  # random weights barely spike: BN statistics from x make them fire
        path = save(to_nir(model), Path(tmp) / "check.nir")
        check = compare_spikes(fold_batchnorm(model), from_nir(path), x)
    report = {
        "benchmark": "nir_roundtrip",
        "model": "resnet19 SNN, 3x32x32, 10 classes, T=4", "parameters": count_parameters(model),
        "torch": torch.__version__, "nir": nir.version, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2), "rounds": args.rounds,
        "target_s": TARGET_S, "modes": modes,
        "met": modes["uncompressed"]["total_s"] < TARGET_S,
        "spike_equal": check["spike_equal"], "output_equal": check["output_equal"], "spikes": check["spikes"],
    }
    write_json(args.out, report)
    print(f"export+import {modes['uncompressed']['total_s']:.2f} s (gzip: {modes['gzip']['total_s']:.2f} s); target "
          f"< {TARGET_S} s {'met' if report['met'] else 'NOT met'}; spike_equal={check['spike_equal']} -> {args.out}")


if __name__ == "__main__":
    main()
