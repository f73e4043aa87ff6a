"""The benchmark networks written in other SNN libraries, for throughput comparisons against neurokd.

``cnn`` (neurokd's 3 conv-BN-LIF stages, flatten, linear) and ``resnet19`` (128/256/512 x [3, 3, 2] BasicBlocks,
LIF after the residual add, global average pool, linear), LIF ``beta = 0.5`` (SpikingJelly: ``tau = 2`` without
input decay), threshold 1, reset to zero, atan surrogate, detached reset:

- ``snntorch`` (snnTorch 1.0): ``snn.Leaky`` in a per-step Python loop; every layer runs once per time step.
- ``spikingjelly`` (SpikingJelly 2.0, multi-step mode): stateless layers run once on ``[T*B, ...]``, the neuron
  loops over T inside its own kernel (the torch implementation on CPU; on CUDA the library picks its kernels).

Modules are created in neurokd's parameter order, so :func:`copy_weights` can load a neurokd twin's weights
(tests check the three compute the same logits). Every net takes a static batch ``[B, ...]`` and returns the
time-mean logits ``[B, K]``. :func:`build` returns None with a reason when a library is missing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

BETA, THRESHOLD = 0.5, 1.0
CNN_WIDTH, RESNET19 = 16, ([128, 256, 512], [3, 3, 2])
PEERS = ("snntorch", "spikingjelly")


# ------------------------------------------------------------------------------------------------- snnTorch

def _leaky():
    import snntorch as snn

    return snn.Leaky(beta=BETA, threshold=THRESHOLD, reset_mechanism="zero")


class SnnTorchCNN(nn.Module):
    """neurokd's ``cnn`` (3 conv-BN-LIF stages, flatten, linear) in snnTorch's per-step style."""

    def __init__(self, T: int, cin: int = 1, hw: int = 8, width: int = CNN_WIDTH, classes: int = 10):
        super().__init__()
        self.T = T
        self.stages = nn.ModuleList()  # (conv, bn, lif) per stage
        c = cin
        for co, s in zip([width, 2 * width, 4 * width], [1, 2, 2]):
            self.stages.append(nn.ModuleList([nn.Conv2d(c, co, 3, s, 1, bias=False), nn.BatchNorm2d(co), _leaky()]))
            hw = (hw + 2 - 3) // s + 1
            c = co
        self.fc = nn.Linear(c * hw * hw, classes)

    def forward(self, x):
        mems = [lif.init_leaky() for _conv, _bn, lif in self.stages]
        out = 0
        for _t in range(self.T):
            h = x
            for i, (conv, bn, lif) in enumerate(self.stages):
                h, mems[i] = lif(bn(conv(h)), mems[i])
            out = out + self.fc(h.flatten(1))
        return out / self.T


class _SnnTorchBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.lif1 = _leaky()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.lif2 = _leaky()

    def forward(self, x, m1, m2):
        h, m1 = self.lif1(self.bn1(self.conv1(x)), m1)
        h = self.bn2(self.conv2(h))
        s, m2 = self.lif2(h + (x if self.down is None else self.down(x)), m2)
        return s, m1, m2


def _resnet19_layout():
    """(cin, cout, stride) of every BasicBlock of ResNet-19, in order."""
    out, c = [], RESNET19[0][0]
    for i, (co, n) in enumerate(zip(*RESNET19)):
        for j in range(n):
            out.append((c, co, 2 if (i > 0 and j == 0) else 1))
            c = co
    return out


class SnnTorchResNet19(nn.Module):
    """neurokd's ``resnet19`` in snnTorch's per-step style."""

    def __init__(self, T: int, cin: int = 3, classes: int = 10):
        super().__init__()
        self.T = T
        w0 = RESNET19[0][0]
        self.conv = nn.Conv2d(cin, w0, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(w0)
        self.lif = _leaky()
        self.blocks = nn.ModuleList(_SnnTorchBlock(*b) for b in _resnet19_layout())
        self.fc = nn.Linear(RESNET19[0][-1], classes)

    def forward(self, x):
        m0 = self.lif.init_leaky()
        mems = [[b.lif1.init_leaky(), b.lif2.init_leaky()] for b in self.blocks]
        out = 0
        for _t in range(self.T):
            h, m0 = self.lif(self.bn(self.conv(x)), m0)
            for b, m in zip(self.blocks, mems):
                h, m[0], m[1] = b(h, m[0], m[1])
            out = out + self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
        return out / self.T


# --------------------------------------------------------------------------------------------- SpikingJelly

def _sj_lif():
    from spikingjelly.activation_based import neuron, surrogate

    # v = (1 - 1/tau) v + x with tau = 2 is beta = 0.5; hard reset to 0 is neurokd's "zero" reset
    return neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=THRESHOLD, v_reset=0.0,
                          surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


def _sj(kind: str, *args, **kwargs):
    from spikingjelly.activation_based import layer

    return getattr(layer, kind)(*args, **kwargs, step_mode="m")


class _SJNet(nn.Module):
    """Base: repeat the static input over T, run the multi-step body, average the logits; neuron state is reset
    before every call (SpikingJelly keeps it between calls)."""

    def __init__(self, T: int):
        super().__init__()
        self.T = T

    def body(self, x_seq):
        raise NotImplementedError

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        return self.body(x.unsqueeze(0).expand(self.T, *x.shape)).mean(0)


class SpikingJellyCNN(_SJNet):
    def __init__(self, T: int, cin: int = 1, hw: int = 8, width: int = CNN_WIDTH, classes: int = 10):
        super().__init__(T)
        layers, c = [], cin
        for co, s in zip([width, 2 * width, 4 * width], [1, 2, 2]):
            layers += [_sj("Conv2d", c, co, 3, s, 1, bias=False), _sj("BatchNorm2d", co), _sj_lif()]
            hw, c = (hw + 2 - 3) // s + 1, co
        layers += [_sj("Flatten"), _sj("Linear", c * hw * hw, classes)]
        self.net = nn.Sequential(*layers)

    def body(self, x_seq):
        return self.net(x_seq)


class _SJBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = _sj("Conv2d", cin, cout, 3, stride, 1, bias=False)
        self.bn1 = _sj("BatchNorm2d", cout)
        self.lif1 = _sj_lif()
        self.conv2 = _sj("Conv2d", cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _sj("BatchNorm2d", cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(_sj("Conv2d", cin, cout, 1, stride, bias=False), _sj("BatchNorm2d", cout))
        self.lif2 = _sj_lif()

    def forward(self, x):
        h = self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x)))))
        return self.lif2(h + (x if self.down is None else self.down(x)))


class SpikingJellyResNet19(_SJNet):
    def __init__(self, T: int, cin: int = 3, classes: int = 10):
        super().__init__(T)
        w0 = RESNET19[0][0]
        self.stem = nn.Sequential(_sj("Conv2d", cin, w0, 3, 1, 1, bias=False), _sj("BatchNorm2d", w0), _sj_lif())
        self.blocks = nn.Sequential(*(_SJBlock(*b) for b in _resnet19_layout()))
        self.head = nn.Sequential(_sj("AdaptiveAvgPool2d", 1), _sj("Flatten"), _sj("Linear", RESNET19[0][-1], classes))

    def body(self, x_seq):
        return self.head(self.blocks(self.stem(x_seq)))


# ------------------------------------------------------------------------------------------------ builders

_BUILDERS: dict[tuple[str, str], Callable[[int, list[int]], nn.Module]] = {
    ("snntorch", "cnn"): lambda T, s: SnnTorchCNN(T, s[0], s[1]),
    ("snntorch", "resnet19"): lambda T, s: SnnTorchResNet19(T, s[0]),
    ("spikingjelly", "cnn"): lambda T, s: SpikingJellyCNN(T, s[0], s[1]),
    ("spikingjelly", "resnet19"): lambda T, s: SpikingJellyResNet19(T, s[0]),
}


def version(peer: str) -> str | None:
    """The installed version of a peer library, None when it cannot be imported."""
    from importlib import metadata

    try:
        __import__(peer)
        return metadata.version(peer)
    except Exception:  # a broken install counts as missing: the benchmark records why
        return None


def build(peer: str, arch: str, T: int, input_shape: list[int]) -> tuple[nn.Module | None, str | None]:
    """``(net, None)``, or ``(None, reason)`` when the library is missing or fails to build the net."""
    try:
        return _BUILDERS[(peer, arch)](T, input_shape), None
    except Exception as e:  # missing library, API change: recorded, the other implementations still run
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Load ``src``'s conv/BN/linear parameters and BN statistics into ``dst``'s, matched in registration order."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    a = [m for m in src.modules() if isinstance(m, kinds)]
    b = [m for m in dst.modules() if isinstance(m, kinds)]
    if len(a) != len(b) or any(not any(isinstance(m, k) and isinstance(n, k) for k in kinds)
                               for m, n in zip(a, b)):
        raise ValueError(f"layers differ: {[type(m).__name__ for m in a]} vs {[type(m).__name__ for m in b]}")
    with torch.no_grad():
        for m, n in zip(a, b):
            n.load_state_dict(m.state_dict())
