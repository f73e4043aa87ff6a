"""Lava simulation speed: neurokd's bit-accurate NumPy model vs Lava's CPU simulator, on a chain and on residual nets.

``--arch cnn`` (default): the demo's student (``cnn``, width 32, T = 4, digits) exported as a netx ``.net`` file;
``--run`` names a trained run (default ``runs/demo/snn`` when present), otherwise one is trained briefly.
``--arch resnet20`` (digits) / ``resnet1d`` (MNIST-1D): a residual net (``--width``, default 8) exported as a
``.lava`` graph and run as a Lava process network (fan-in at the adds, delayed shortcuts); a run is trained
briefly unless ``--run`` is given (its accuracy is not the point). Both simulators run the same file in this one
process, one after the other, on the same test samples; the result records time steps per second (samples x T
/ seconds) for

- the NumPy model over the whole test split (batches of 128, best of ``--rounds``),
- Lava (lava-dl netx on ``Loihi2SimCfg(select_tag="fixed_pt")``) on the first ``--lava-samples`` samples
  streamed through one network, both end to end (process start-up included) and in steady state,

checks that the two agree spike for spike on those samples, and writes ``benchmarks/results/lava_sim.json``
(``lava_sim_<arch>.json`` for the residual nets).

    python benchmarks/lava_sim.py [--arch cnn|resnet20|resnet1d] [--run RUN] [--lava-samples N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "lava_sim.json"
DEMO_RUN = Path("runs/demo/snn")
# arch -> (dataset, data keys, training keys when a run is trained here)
SETUPS = {
    "cnn": ("digits", {}, {"model.width": 32, "optim.lr": 3e-3, "data.augment": ["crop"]}),
    "resnet20": ("digits", {}, {"optim.lr": 2e-2}),
    "resnet1d": ("mnist1d", {"num_samples": 2000}, {"optim.lr": 2e-2}),
}


def _train(out: Path, epochs: int, arch: str, width: int | None) -> Path:
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.train import run_training

    dataset, data, train = SETUPS[arch]
    cfg = build_config(RunConfig, overrides={
        "name": "snn", "out_dir": str(out), "data.name": dataset, "model.arch": arch, "model.kind": "snn",
        "model.T": 4, "optim.epochs": epochs, "train.progress": False, "train.threads": 1,
        **{f"data.{k}": v for k, v in data.items()}, **train, **({"model.width": width} if width else {})})
    return run_training(cfg, overwrite=True).run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=list(SETUPS), default="cnn", help="network (module doc)")
    ap.add_argument("--width", type=int, default=None, help="width when a run is trained (default: 32 cnn, 8 resnets)")
    ap.add_argument("--run", type=Path, default=None, help="trained SNN run (default: runs/demo/snn or train one)")
    ap.add_argument("--lava-samples", type=int, default=16, help="test samples streamed through Lava")
    ap.add_argument("--rounds", type=int, default=3, help="NumPy model timing rounds (best is kept)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs when a run has to be trained")
    ap.add_argument("--quick", action="store_true", help="4 Lava samples, 1 round (smoke test)")
    ap.add_argument("--out", type=Path, default=None, help="result file (default: results/lava_sim[_ARCH].json)")
    args = ap.parse_args()
    args.out = args.out or (RESULTS if args.arch == "cnn" else RESULTS.with_name(f"lava_sim_{args.arch}.json"))
    if args.width is None and args.arch != "cnn":
        args.width = 8
    if args.quick:
        args.lava_samples, args.rounds = 4, 1
    torch.set_num_threads(1)

    from neurokd import load_model
    from neurokd.config import DataConfig
    from neurokd.data import load_dataset
    from neurokd.exporters.lava.export import default_name, lava_form, to_lava
    from neurokd.exporters.lava.files import read_lava
    from neurokd.exporters.lava.graph import LavaGraph
    from neurokd.exporters.lava.lava_run import run_lava, run_lava_graph
    from neurokd.exporters.lava.numpy_sim import as_graph
    from neurokd.exporters.lava.simulation import RESET_OFFSET, encode_inputs, simulate
    from neurokd.io import write_json
    from neurokd.runs import Run

    load0 = os.getloadavg()[0]
    dataset, data, _ = SETUPS[args.arch]
    with tempfile.TemporaryDirectory() as tmp:
        demo = args.arch == "cnn" and (DEMO_RUN / "model.safetensors").is_file()
        run = args.run or (DEMO_RUN if demo else _train(Path(tmp), args.epochs, args.arch, args.width))
        model = load_model(run)
        # a given run's own data (its split and sample count), else the setup's
        dcfg = Run.open(run).data_config() if args.run else DataConfig(name=dataset, **data)
        splits = load_dataset(dcfg)
        x_train, _ = splits.train.get_batch(torch.arange(len(splits.train)))
        x_test, y_test = splits.test.get_batch(torch.arange(len(splits.test)))
        x, y = x_test.numpy(), y_test.numpy()
        path = Path(tmp) / default_name(lava_form(model))
        _report, form = to_lava(model, path, calibration=x_train)
        net = read_lava(path)
        graph = as_graph(net)
        T, L = int(net.meta["T"]), graph.latency

        numpy_best = None
        for _ in range(args.rounds):
            res = simulate(path, x, backend="numpy", batch_size=128, record_spikes=False)
            numpy_best = res if numpy_best is None or res.seconds < numpy_best.seconds else numpy_best
        numpy_steps_per_s = numpy_best.steps_per_s

        n = min(args.lava_samples, len(x))
        frames = encode_inputs(net, x[:n])
        stream = np.concatenate([frames.reshape(n * T, *frames.shape[2:]),
                                 np.zeros((L, *frames.shape[2:]), np.int64)])
        t0 = time.perf_counter()
        bits = int(net.meta["input_message_bits"])
        lava = (run_lava_graph(net, stream, bits, T, RESET_OFFSET) if isinstance(net, LavaGraph)
                else run_lava(path, stream, bits, T, RESET_OFFSET))
        lava_total_s = time.perf_counter() - t0
        from neurokd.exporters.lava import numpy_sim

        ref = numpy_sim.run(net, stream[None], reset_interval=T, reset_offset=RESET_OFFSET)
        equal = bool(np.array_equal(lava.v_last, ref.v_last)
                     and all(np.array_equal(a, b) for a, b in zip(lava.spikes, ref.spikes)))

    lava_total = n * T / lava_total_s
    lava_steady = lava.timing["run_steps"] / lava.timing["run_s"]  # physical steps = sample steps when streaming
    report = {
        "benchmark": "lava_sim",
        "network": {"arch": model.spec.arch, "width": model.spec.width, "T": T, "form": form,
                    "layers": len(graph.populations), "latency": L, "projections": len(graph.projections),
                    "delayed_projections": sum(pr.delay > 0 for pr in graph.projections),
                    "neurons": [p.size for p in graph.populations]},
        "dataset": dcfg.name, "numpy_samples": len(x), "lava_samples": n,
        "numpy_acc": numpy_best.accuracy(y),
        "numpy_steps_per_s": round(numpy_steps_per_s, 1),
        "lava_steps_per_s": round(lava_total, 3),
        "lava_steady_steps_per_s": round(lava_steady, 3),
        "lava_seconds": {k: round(v, 3) for k, v in lava.timing.items()} | {"total": round(lava_total_s, 3)},
        "ratio": round(numpy_steps_per_s / lava_total, 1),
        "ratio_steady": round(numpy_steps_per_s / lava_steady, 1),
        "spike_equal": equal,
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "loadavg_start": round(load0, 2), "loadavg_end": round(os.getloadavg()[0], 2),
    }
    write_json(args.out, report)
    print(f"NumPy {numpy_steps_per_s:.0f} steps/s, Lava {lava_total:.2f} steps/s end to end "
          f"({lava_steady:.2f} steady): {report['ratio']}x / {report['ratio_steady']}x, spike_equal={equal} "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
