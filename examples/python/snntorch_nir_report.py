"""Price an snnTorch model on neuromorphic chips through its NIR file: SynOps, energy per inference, chip fit.

    python examples/python/snntorch_nir_report.py [--out snntorch_report]

The network is built and exported by snnTorch itself (``snntorch.export_to_nir``); neurokd imports the NIR graph
(spike for spike with snnTorch's own simulation, checked here on the digits test set), counts its activity on
that data and prices it with the cited chip profiles.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nir
import snntorch as snn
import torch
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir
from torch import nn

import neurokd as nk
from neurokd.config import DataConfig
from neurokd.data import load_split

T = 8


def snntorch_net() -> nn.Module:
    """64 -> 64 -> 10 Leaky network (zero reset, as NIR describes it), fixed random weights."""
    torch.manual_seed(0)
    beta = torch.full((64,), 0.9)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64),
                         snn.Leaky(beta=beta, threshold=torch.full((64,), 0.5), init_hidden=True,
                                   reset_mechanism="zero", reset_delay=False),
                         nn.Linear(64, 10),
                         snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.full((10,), 0.5), init_hidden=True,
                                   reset_mechanism="zero", reset_delay=False, output=True))


def snntorch_rates(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """snnTorch's own simulation: the image fed at each of T steps, output spikes averaged over time."""
    snn_utils.reset(net)
    with torch.no_grad():
        return sum(net(x)[0] for _ in range(T)) / T


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="snntorch_report")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net = snntorch_net()
    graph = export_to_nir(net, torch.zeros(1, 1, 8, 8), ignore_dims=[0])
    graph.metadata.update({"T": T, "data": {"name": "digits"}})  # what neurokd needs to run it on digits
    nir.write(out / "snntorch.nir", graph)
    x, _ = load_split(DataConfig(name="digits"), "test").tensors()
    with torch.no_grad():
        ours = nk.load_nir(out / "snntorch.nir")(x)
    print(f"neurokd's import = snnTorch's own simulation on {len(x)} test digits: "
          f"{torch.equal(ours, snntorch_rates(net, x))}")
    acc = nk.evaluate(out / "snntorch.nir")["acc"]
    report = nk.report(out / "snntorch.nir", chips=["loihi", "loihi2", "cmos-45nm"], out=out)
    s = report.summary()
    print(f"snnTorch network via NIR on digits (untrained, T={T}): accuracy {acc:.4f}, "
          f"SynOps/sample {report.snn.synops:.0f}, firing rate {report.snn.firing_rate:.4f}")
    print("energy uJ/sample: " + ", ".join(f"{k} {v:.3g}" for k, v in s["energy_uj"].items() if v is not None))
    print(f"report: {out / 'report.md'}")


if __name__ == "__main__":
    main()
