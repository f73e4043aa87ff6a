"""Global-batch BatchNorm statistics shared by rate-BP's spike pass and DistBatchNorm."""

import copy

import pytest
import torch
from torch import nn

from neurokd.snn.batch_stats import global_batch_stats, normalize, update_running_stats


@pytest.mark.parametrize("momentum", [0.1, None])
def test_one_process_matches_torch_batchnorm(momentum):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(5, momentum=momentum)
    nn.init.normal_(bn.weight)
    nn.init.normal_(bn.bias)
    ours = copy.deepcopy(bn)
    x = torch.randn(6, 5, 4, 3) * 3 + 2
    for _ in range(2):  # two steps: the cumulative average (momentum None) needs the step count
        ref = bn(x)
        mean, var, n = global_batch_stats(x, lambda t: t, torch.float64)
        update_running_stats(ours, mean, var, float(n.item()))
        assert n.item() == 6 * 4 * 3
        torch.testing.assert_close(normalize(x, mean, var, ours), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, bn.running_mean)
    torch.testing.assert_close(ours.running_var, bn.running_var)
    assert ours.num_batches_tracked.item() == bn.num_batches_tracked.item() == 2


def test_reduce_combines_the_shards_of_a_batch():
    """Two shards whose sums are combined by ``reduce`` give the statistics of the whole batch."""
    torch.manual_seed(1)
    x = torch.randn(8, 3, 5) * 2 - 1
    a, b = x[:3], x[3:]
    # a stand-in for an all_reduce over two processes: each call adds what the other shard contributes to the
    # same quantity (count, channel sums, squared deviations from the global mean), in global_batch_stats' order
    def reduce_for(other):
        calls = iter(range(3))
        global_mean = x.double().mean([0, 2]).view(1, -1, 1)

        def reduce(t):
            i = next(calls)
            if i == 0:
                return t + other.numel() // other.shape[1]
            if i == 1:
                return t + other.double().sum([0, 2])
            return t + (other.double() - global_mean).square().sum([0, 2])

        return reduce

    mean, var, n = global_batch_stats(a, reduce_for(b), torch.float64)
    assert n.item() == 8 * 5
    torch.testing.assert_close(mean, x.double().mean([0, 2]))
    torch.testing.assert_close(var, x.double().var([0, 2], unbiased=False))


def test_no_running_update_without_tracking_or_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False)
    update_running_stats(bn, torch.zeros(2), torch.ones(2), 4.0)  # nothing to update: no error
    bn = nn.BatchNorm1d(2).eval()
    update_running_stats(bn, torch.ones(2), torch.ones(2) * 9, 4.0)
    assert bn.running_mean.abs().sum() == 0 and bn.num_batches_tracked.item() == 0
