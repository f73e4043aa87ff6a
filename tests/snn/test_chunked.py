"""Time-chunked execution: the same spikes as the folded run in inference, the same BatchNorm statistics and
gradients in training, rate-BP's spike pass in sub-chunks, and the cases that must run folded."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.base import TwinNet, make_act_factory
from neurokd.models.fold import inference_model
from neurokd.snn import LIF, chunked
from neurokd.snn.folding import chunk_sizes, chunk_steps
from neurokd.snn.ratebp import rate_forward

T = 5


def _spec(arch, shape, T=T, **kw):
    return ModelSpec(arch=arch, kind="snn", T=T, width=8, num_classes=5, input_shape=shape,
                     neuron=NeuronSpec(beta=0.8, threshold=0.5, **kw))


class _FCHead(nn.Module):
    """flatten -> FC -> BatchNorm1d -> LIF -> FC: a spiking head, traced through (not a torch.nn leaf)."""

    def __init__(self, cin, act):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 12), nn.BatchNorm1d(12),
                                 act(), nn.Linear(12, 5))

    def forward(self, x):
        return self.net(x)


def _fc_head_resnet(**kw):
    spec = _spec("resnet19", [3, 8, 8], **kw)
    model = build_model(spec)
    model.head = _FCHead(32, make_act_factory(spec))
    return model


ARCHS = {
    "cnn": lambda **kw: build_model(_spec("cnn", [1, 8, 8], **kw)),
    "cnn1d": lambda **kw: build_model(_spec("cnn1d", [1, 24], **kw)),
    "vgg11": lambda **kw: build_model(_spec("vgg11", [3, 32, 32], **kw)),
    "resnet19": lambda **kw: build_model(_spec("resnet19", [3, 8, 8], **kw)),
    "resnet1d": lambda **kw: build_model(_spec("resnet1d", [1, 24], **kw)),
    "resnet19-fc-lif-fc": _fc_head_resnet,
}


def _input(model: TwinNet, B=6):
    g = torch.Generator().manual_seed(1)
    return torch.rand(B, *model.spec.input_shape, generator=g) * 2


class _SpikeLog:
    """Every neuron's output per call, recorded by wrapping ``forward`` (not a hook: hooks make a model run
    folded). ``spikes()`` concatenates each neuron's calls: time-major ``[T*B, ...]`` whatever the chunking."""

    def __init__(self, model):
        self.calls: dict[str, list[torch.Tensor]] = {}
        for name, m in model.named_modules():
            if isinstance(m, LIF):
                m.__dict__["forward"] = self._wrap(name, m)

    def _wrap(self, name, m):
        def forward(x):
            s = type(m).forward(m, x)
            self.calls.setdefault(name, []).append(s.detach())
            return s

        return forward

    def spikes(self):
        return {k: torch.cat(v) for k, v in self.calls.items()}


def _trained_bn(model, x):
    model.train()
    with torch.no_grad():
        model(x)  # non-trivial running statistics
    return model


def test_chunk_arithmetic():
    assert chunk_steps(8, 16 << 20, 16 << 20) == 1
    assert chunk_steps(8, 3 << 20, 16 << 20) == 5
    assert chunk_steps(8, 1 << 10, 16 << 20) == 8
    assert chunk_steps(8, 64 << 20, 16 << 20) == 1  # never fewer than one step
    assert chunk_sizes(8, 3) == [3, 3, 2]
    assert chunk_sizes(4, 4) == [4]
    with pytest.raises(ValueError):
        chunk_sizes(4, 0)


def test_automatic_chunk_follows_the_largest_activation():
    """cnn width 8 on 1x8x8: the largest activation is stage1's 8 x 8 x 8 float32 = 2048 bytes per sample and
    step; B = 4 -> 8 KiB per step, so a 20 KiB budget folds 2 steps per chunk, and 1 MiB folds all of them."""
    model = _trained_bn(ARCHS["cnn"](), torch.rand(4, 1, 8, 8)).eval()
    p = chunked.plan(model, T, 4, (1, 8, 8), budget=20 << 10)
    assert p == chunked.ChunkPlan((2, 2, 1), breadth_first=False)
    assert chunked.plan(model, T, 4, (1, 8, 8), budget=1 << 20) is None
    assert chunked.plan(model.train(), T, 4, (1, 8, 8), budget=20 << 10).breadth_first
    model.time_chunk = T
    assert chunked.plan(model, T, 4, (1, 8, 8), model.time_chunk) is None  # >= T: folded
    off_cpu = copy.deepcopy(model).to("meta")  # the budget is the CPU's: off the CPU only an explicit chunk splits
    assert chunked.plan(off_cpu, T, 4, (1, 8, 8), budget=20 << 10) is None
    assert chunked.plan(off_cpu, T, 4, (1, 8, 8), 2) is not None


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_spikes_equal_the_folded_run(arch, channels_last):
    """BN folded, eval mode, float32: every neuron's spikes are those of the folded run, bit for bit, for chunks
    of 1 and 2 steps; logits equal up to float rounding (the head's GEMM may block rows differently)."""
    torch.manual_seed(0)
    model = ARCHS[arch]()
    x = _input(model)
    model = inference_model(_trained_bn(model, x))
    if channels_last and arch not in ("cnn1d", "resnet1d"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    ref_model = copy.deepcopy(model)
    ref_model.time_chunk = T
    ref_log = _SpikeLog(ref_model)
    with torch.no_grad():
        ref = ref_model(x)
    for chunk in (1, 2):
        m = copy.deepcopy(model)
        m.time_chunk = chunk
        log = _SpikeLog(m)
        with torch.no_grad():
            out = m(x)
        assert len(next(iter(log.calls.values()))) == len(chunk_sizes(T, chunk))  # it did run in chunks
        spikes, ref_spikes = log.spikes(), ref_log.spikes()
        assert spikes.keys() == ref_spikes.keys()
        for k in ref_spikes:
            assert torch.equal(spikes[k], ref_spikes[k]), k
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)


def _step(model, x, y):
    model.zero_grad(set_to_none=True)
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_training_statistics_and_gradients_equal_the_folded_run(arch):
    """Training mode (BatchNorm on batch statistics), float64, BPTT: chunked logits, every parameter gradient
    and the BatchNorm running statistics equal the folded run's (T*B-sample statistics, one update)."""
    torch.manual_seed(0)
    model = ARCHS[arch](learn_beta=True, detach_reset=False).double().train()
    x, y = _input(model).double(), torch.arange(6) % 5
    ref_model = copy.deepcopy(model)
    ref_model.time_chunk = T
    ref_logits, ref_g = _step(ref_model, x, y)
    for chunk in (1, 2):
        m = copy.deepcopy(model)
        m.time_chunk = chunk
        assert chunked.plan(m, T, 6, tuple(m.spec.input_shape), chunk).breadth_first
        logits, g = _step(m, x, y)
        torch.testing.assert_close(logits, ref_logits, rtol=1e-12, atol=1e-12)
        for n in ref_g:
            torch.testing.assert_close(g[n], ref_g[n], rtol=1e-10, atol=1e-12, msg=n)
        for (k, a), b in zip(m.state_dict().items(), ref_model.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14, msg=k)


def test_batch_norm_chunks_equals_batch_norm_on_the_concatenation():
    """Values, input/weight/bias gradients and running statistics (cumulative momentum too; no affine too)."""
    torch.manual_seed(0)
    for bn in (nn.BatchNorm2d(3).double(), nn.BatchNorm2d(3, affine=False, momentum=None).double()):
        if bn.weight is not None:
            with torch.no_grad():
                bn.weight.uniform_(0.5, 2.0)
                bn.bias.uniform_(-1.0, 1.0)
        ref_bn = copy.deepcopy(bn)
        xs = [torch.randn(n, 3, 4, 4, dtype=torch.float64, requires_grad=True) for n in (4, 6, 2)]
        g = torch.randn(12, 3, 4, 4, dtype=torch.float64)
        ys = chunked.batch_norm_chunks(bn, xs)
        x_ref = torch.cat([x.detach() for x in xs]).requires_grad_(True)
        y_ref = ref_bn(x_ref)
        torch.testing.assert_close(torch.cat(ys), y_ref, rtol=1e-12, atol=1e-12)
        (torch.cat(ys) * g).sum().backward()
        (y_ref * g).sum().backward()
        torch.testing.assert_close(torch.cat([x.grad for x in xs]), x_ref.grad, rtol=1e-10, atol=1e-12)
        for p, q in zip(bn.parameters(), ref_bn.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)
        for a, b in zip(bn.buffers(), ref_bn.buffers()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_rate_bp_spike_pass_in_sub_chunks_equals_one_pass():
    """rate-BP with rate_chunk 4 at T = 5: each rate chunk split into 1-step sub-chunks gives the same
    gradients and running statistics (its BatchNorm statistics still span the whole rate chunk)."""
    torch.manual_seed(0)
    model = ARCHS["resnet19-fc-lif-fc"]().double().train()
    x, y = _input(model).double(), torch.arange(6) % 5
    results = []
    for sub in (None, 1):
        m = copy.deepcopy(model)
        m.time_chunk = sub if sub is not None else T
        m.zero_grad(set_to_none=True)
        F.cross_entropy(rate_forward(m, x, chunk=4)[0], y).backward()
        results.append(m)
    a, b = results
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=n)
    for (k, u), v in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-14, msg=k)


def test_poisson_sequence_and_stateful_inputs():
    """Poisson input draws the same samples (one call for all T), a [T, B, ...] sequence chunks along time, and a
    stateful model continues from its stored membrane and keeps the final one, as when folded."""
    torch.manual_seed(0)
    spec = _spec("cnn", [1, 8, 8])
    spec.encoder = "poisson"
    model = inference_model(_trained_bn(build_model(spec), torch.rand(6, 1, 8, 8)))
    chunky = copy.deepcopy(model)
    chunky.time_chunk, model.time_chunk = 2, T
    x = torch.rand(6, 1, 8, 8)
    seq = (torch.rand(T, 6, 1, 8, 8) > 0.5).float()
    with torch.no_grad():
        torch.manual_seed(3)
        ref = model(x)
        torch.manual_seed(3)
        assert torch.equal(chunky(x), ref)
        assert torch.equal(chunky(seq), model(seq))
        for m in (model, chunky):
            m.set_stateful(True)
            m(seq)
        assert torch.equal(chunky(seq), model(seq))  # continued from the stored state
        for a, b in zip(chunked.spiking_neurons(chunky), chunked.spiking_neurons(model)):
            assert torch.equal(a._v, b._v) and not a._v.requires_grad


def test_hooks_unsupported_ops_and_foreign_norms_run_folded():
    """A hooked module sees the whole [T*B, ...] output; a training-mode Dropout or a BatchNorm subclass that
    normalises on its own statistics (train.sync_bn's) make the network run folded."""
    torch.manual_seed(0)
    model = ARCHS["cnn"]().eval()
    model.time_chunk = 1
    seen = []
    h = model.stage2.register_forward_hook(lambda _m, _i, out: seen.append(out.shape[0]))
    model(torch.rand(3, 1, 8, 8))
    h.remove()
    assert seen == [T * 3]
    assert chunked.plan(model, T, 3, (1, 8, 8), 1) is not None
    drop = model
    drop.head = nn.Sequential(nn.Dropout(0.5), *drop.head).eval()  # a new module: the model is traced again
    assert chunked.plan(drop, T, 3, (1, 8, 8), 1) is not None  # eval mode: dropout is per sample
    assert chunked.plan(drop.train(), T, 3, (1, 8, 8), 1) is None

    class OwnBN(nn.BatchNorm2d):
        pass

    foreign = copy.deepcopy(model).train()
    foreign.stage1[1].__class__ = OwnBN
    assert chunked.plan(foreign, T, 3, (1, 8, 8), 1) is None
    assert chunked.plan(foreign.eval(), T, 3, (1, 8, 8), 1) is not None  # running statistics: per sample


def test_bf16_autocast_training_runs_chunked():
    torch.manual_seed(0)
    model = ARCHS["resnet19"]().train()
    model.time_chunk = 2
    ref = copy.deepcopy(model)
    ref.time_chunk = T
    x, y = _input(model), torch.arange(6) % 5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, ref_out = model(x), ref(x)
    F.cross_entropy(out.float(), y).backward()
    assert out.dtype == ref_out.dtype
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    torch.testing.assert_close(out.float(), ref_out.float(), rtol=0.1, atol=0.1)
