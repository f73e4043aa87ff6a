"""Demo stage: the headline student -> ``model.nir`` -> re-imported, checked spike for spike on the demo's test data."""

from __future__ import annotations

import time

import torch

from neurokd.demo.context import DemoContext
from neurokd.exporters.nir.export import to_nir
from neurokd.exporters.nir.files import save
from neurokd.exporters.nir.importer import from_nir
from neurokd.exporters.nir.verify import compare_spikes
from neurokd.models.fold import fold_batchnorm


def stage_nir(ctx: DemoContext) -> None:
    key = ctx.headline
    model = ctx.runs[key].model.cpu().eval()
    t0 = time.perf_counter()
    graph = to_nir(model)
    path = save(graph, ctx.out_dir / "model.nir")
    net = from_nir(path)
    seconds = time.perf_counter() - t0
    test = ctx.splits.test  # type: ignore[union-attr]
    x, y = test.get_batch(torch.arange(len(test)))
    with torch.no_grad():
        report = compare_spikes(fold_batchnorm(model), net, x)
        acc = float((net.logits(x).argmax(1) == y).float().mean())
    ctx.summary["nir"] = {
        "path": str(path), "nodes": len(graph.nodes), "spike_equal": report["spike_equal"],
        "output_equal": report["output_equal"], "model": key, "test_samples": len(y),
        "spikes": report["spikes"], "test_acc": acc, "export_import_seconds": round(seconds, 3),
    }
    ctx.rows.append([f"{key} via NIR", "snn", "exported + re-imported", model.T, acc, "-"])
