"""The throughput benchmark's peers compute neurokd's network, its FLOP count, and its result rows."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import peers  # noqa: E402 (benchmarks is not a package)
import roofline  # noqa: E402
import throughput  # noqa: E402

from neurokd.models import build_model  # noqa: E402


@pytest.mark.parametrize("arch,shape", [("cnn", [1, 8, 8]), ("resnet19", [3, 8, 8])])
@pytest.mark.parametrize("peer", peers.PEERS)
def test_peers_compute_the_neurokd_network(arch, shape, peer):
    """With neurokd's weights and BatchNorm statistics copied in, each peer's logits equal neurokd's (eval mode,
    the same LIF: beta 0.5, threshold 1, reset to zero): the benchmark compares like with like."""
    torch.manual_seed(0)
    model = throughput.neurokd_net(arch, shape, T=4)
    x = torch.rand(6, *shape) * 2
    with torch.no_grad():
        model.train()(x)  # non-trivial running statistics
    model.eval()
    net, reason = peers.build(peer, arch, 4, shape)
    assert reason is None
    peers.copy_weights(model, net)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), model(x), rtol=1e-5, atol=1e-5)


def test_missing_peer_is_a_reason_not_a_crash():
    net, reason = peers.build("spikingjelly", "vgg11", 4, [3, 32, 32])
    assert net is None and reason.startswith("KeyError")
    assert peers.version("no_such_library") is None


def test_step_flops_counts_convolutions_and_linear_layers():
    """cnn width 16 on 1x8x8: 2 x MACs = 18432 (8x8x16 outputs x 9) + 147456 (4x4x32 x 144) + 147456 (2x2x64 x
    288) + 5120 (256 -> 10) per sample and step, the same for the ANN and the SNN twin (per folded row)."""
    expected = 2 * (8 * 8 * 16 * 9 + 4 * 4 * 32 * 144 + 2 * 2 * 64 * 288 + 256 * 10)
    for kind in ("ann", "snn"):
        model = build_model(throughput.neurokd_spec("cnn", [1, 8, 8], 4, kind=kind)).train()
        assert roofline.step_flops(model, [1, 8, 8]) == expected
        assert model.training  # mode restored


def test_result_row_ratios_shares_and_missing_peers():
    case = {"arch": "cnn", "input_shape": [1, 8, 8], "T": 4, "batch": 32}
    peaks = {"fp32": {"peak": 100.0}, "bf16": {"peak": 400.0}}
    sps = {"neurokd": 2000.0, "neurokd_bf16": 4000.0, "snntorch": 1000.0}
    row = throughput._result(case, "train", sps, {"neurokd": 0.5, "snntorch": 0.6}, 0.01e9, peaks, [2, 2],
                             {"spikingjelly": "ModuleNotFoundError: x"})
    assert (row["ratio"], row["ratio_bf16"], row["ratio_spikingjelly"]) == (2.0, 4.0, None)
    assert row["gflops"] == {"neurokd": 20.0, "neurokd_bf16": 40.0, "snntorch": 10.0, "spikingjelly": None}
    assert row["peak_share_fp32"]["neurokd"] == 0.2 and row["peak_share_bf16"]["neurokd_bf16"] == 0.1
    assert row["ratio_conv_bound"] == 4.0 and row["neurokd_time_chunks"] == [2, 2]
    assert row["spikingjelly_samples_per_s"] is None and row["unavailable"]["spikingjelly"]


def test_peak_microbenchmark_reports_both_problems():
    peak = roofline.measure_peak(torch.float32, torch.device("cpu"), calls=1, scale=0.05)
    assert peak["peak"] == max(peak["gemm"], peak["conv"]) > 0 and peak["gemm_n"] == 102
