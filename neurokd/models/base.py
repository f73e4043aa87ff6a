"""The twin network container shared by every architecture.

Layout: ``stem`` -> ``stage1 .. stageN`` -> ``head``. Stage outputs are the tap points for feature KD and
block-wise replacement. An SNN twin encodes a static input ``[B, ...]`` into ``[T, B, ...]`` (or takes a
sequence ``[T, B, ...]`` as is, e.g. event frames), folds time into the batch so stateless layers run once,
and its neurons unfold internally. When all T steps at once would make an activation large, the SNN runs in
chunks of time steps (:mod:`neurokd.snn.chunked`; ``time_chunk``), with the same spikes and, in training, the same
BatchNorm statistics over all ``T*B`` samples. SNN logits are the mean over T of the per-step head outputs. An ANN twin
given a sequence ``[T, B, ...]`` sees its sum over T: for event frames, the accumulated frame of the same
events the SNN sees step by step (a teacher for event data, whatever T the student uses).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from neurokd.models.qcfs import QCFS
from neurokd.models.spec import ModelSpec
from neurokd.snn.chunked import plan, run_chunks
from neurokd.snn.encoders import encode
from neurokd.snn.folding import fold, unfold
from neurokd.snn.neurons import IF, LIF, spiking_neurons

ActFactory = Callable[[], nn.Module]


def make_act_factory(spec: ModelSpec) -> ActFactory:
    """ReLU (or QCFS, ``spec.activation``) for the ANN twin, the spec's spiking neuron (time-folded, T = spec.T)
    for the SNN twin."""
    if spec.kind == "ann":
        if spec.activation == "qcfs":
            return lambda: QCFS(spec.qcfs_levels)
        return lambda: nn.ReLU(inplace=False)
    n = spec.neuron
    if n.type == "if":
        return lambda: IF(n.threshold, n.reset, n.surrogate, n.surrogate_alpha, n.detach_reset, T=spec.T)
    return lambda: LIF(
        n.beta, n.threshold, n.reset, n.surrogate, n.surrogate_alpha, n.learn_beta, n.detach_reset, T=spec.T
    )


class TwinNet(nn.Module):
    """``stem -> stages -> head``; ANN or SNN depending on ``spec.kind``.

    ``time_chunk`` (SNN): time steps per chunk of a forward pass; None (default) sizes chunks on CPU so that the
    largest activation stays within :data:`neurokd.snn.folding.CHUNK_BYTES` (on a GPU it folds all steps); a value
    >= T folds all steps at once.
    """

    def __init__(self, spec: ModelSpec, stem: nn.Module, stages: list[nn.Module], head: nn.Module):
        super().__init__()
        self.spec = spec
        self.time_chunk: int | None = None
        self.stem = stem
        self.stage_names: list[str] = []
        for i, stage in enumerate(stages, start=1):
            name = f"stage{i}"
            self.add_module(name, stage)
            self.stage_names.append(name)
        self.head = head

    @property
    def is_snn(self) -> bool:
        return self.spec.kind == "snn"

    @property
    def T(self) -> int:
        return self.spec.T

    def set_T(self, T: int) -> None:
        """Change the number of time steps of an SNN twin."""
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        self.spec.T = T
        for m in spiking_neurons(self):
            m.T = T

    def reset_state(self) -> None:
        for m in spiking_neurons(self):
            m.reset_state()

    def set_stateful(self, stateful: bool) -> None:
        """Carry membrane state across calls (streaming); clears any stored state."""
        for m in spiking_neurons(self):
            m.stateful = stateful
            m.reset_state()

    def stages(self) -> list[tuple[str, nn.Module]]:
        return [(n, getattr(self, n)) for n in self.stage_names]

    def is_sequence(self, x: Tensor) -> bool:
        """SNN input: False for static ``[B, *input_shape]``, True for a sequence ``[T, B, ...]``; else ValueError."""
        static_ndim = len(self.spec.input_shape or ()) + 1
        if x.ndim == static_ndim:
            return False
        if x.ndim == static_ndim + 1:
            if x.shape[0] != self.T:
                raise ValueError(f"input sequence has {x.shape[0]} steps but the model runs T={self.T}")
            return True
        raise ValueError(
            f"expected input [B, {', '.join(map(str, self.spec.input_shape or []))}] or [T, B, ...], "
            f"got shape {list(x.shape)}"
        )

    def encode_input(self, x: Tensor) -> Tensor:
        """SNN: static ``[B, *input_shape]`` -> folded ``[T*B, ...]``; a sequence ``[T, B, ...]`` is folded as is.

        ANN: static input as is; a sequence ``[T, B, ...]`` is summed over T (accumulated event frames).
        """
        if not self.is_snn:
            static_ndim = len(self.spec.input_shape or ()) + 1
            return x.sum(0) if x.ndim == static_ndim + 1 else x
        if self.is_sequence(x):
            return fold(x)
        return fold(encode(x, self.T, self.spec.encoder))

    def input_chunks(self, x: Tensor, sizes: list[int] | tuple[int, ...]) -> list[Tensor]:
        """SNN input as folded time chunks ``[sizes[i]*B, ...]`` covering the T steps in order; concatenated they
        are :meth:`encode_input`'s output. The direct encoder's chunks repeat ``x`` (never all T copies at once)."""
        if not self.is_sequence(x) and self.spec.encoder == "direct":
            return [fold(x.unsqueeze(0).expand(n, *x.shape)) for n in sizes]
        seq = unfold(self.encode_input(x), self.T)  # input-sized: Poisson draws as one call, as when folded
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        return [fold(seq[t0:t0 + n]) for t0, n in zip(starts, sizes)]

    def forward_body(self, h: Tensor) -> Tensor:
        h = self.stem(h)
        for name in self.stage_names:
            h = getattr(self, name)(h)
        return self.head(h)

    def branch_points(self) -> list[str]:
        """Where a block-wise hybrid can leave the network, in depth order: inside a stage after each of its
        blocks but the last (``stageK.J``, J 0-based; a block is a child of the stage's ``nn.Sequential`` whose
        output is an activation's, e.g. a ResNet BasicBlock or a VGG conv-bn-act group), then the stage output
        (``stageK``)."""
        points = []
        for name, stage in self.stages():
            if isinstance(stage, nn.Sequential):
                points += [f"{name}.{j}" for j, child in enumerate(list(stage)[:-1]) if _ends_in_activation(child)]
            points.append(name)
        return points

    def forward_tail(self, h: Tensor, after: str) -> Tensor:
        """Run everything after branch point ``after`` (see :meth:`branch_points`) and the head on ``h`` (the
        output there, ``[B, ...]`` for an ANN twin): the tail of a block-wise hybrid. Returns logits ``[B, K]``
        (an ANN twin)."""
        if after not in self.branch_points():
            raise ValueError(f"no branch point {after!r}; points are {', '.join(self.branch_points())}")
        stage, _, block = after.partition(".")
        if block:  # the rest of this stage first
            h = getattr(self, stage)[int(block) + 1:](h)
        for name in self.stage_names[self.stage_names.index(stage) + 1:]:
            h = getattr(self, name)(h)
        return self.head(h)

    def forward_seq(self, x: Tensor) -> Tensor:
        """SNN per-step logits ``[T, B, K]``, in time chunks when all steps at once would be large."""
        if not self.is_snn:
            raise TypeError("forward_seq is defined for SNN twins only")
        seq = self.is_sequence(x)
        batch, sample_shape = (x.shape[1], x.shape[2:]) if seq else (x.shape[0], x.shape[1:])
        chunks = plan(self, self.T, batch, tuple(sample_shape), self.time_chunk)
        if chunks is None:
            return unfold(self.forward_body(self.encode_input(x)), self.T)
        outs = run_chunks(self, chunks, self.input_chunks(x, chunks.sizes), batch)
        return unfold(torch.cat(outs), self.T)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, K]`` (SNN: mean over T)."""
        if self.is_snn:
            return self.forward_seq(x).mean(0)
        return self.forward_body(self.encode_input(x))


def _ends_in_activation(module: nn.Module) -> bool:
    """Whether ``module``'s output is an activation's (ReLU, QCFS or spiking neuron): the module is one, or its last
    child is (children in registration order: forward order for ``nn.Sequential``; a BasicBlock registers its
    output activation ``act2`` last)."""
    if isinstance(module, nn.ReLU | QCFS | LIF):
        return True
    children = list(module.children())
    return bool(children) and _ends_in_activation(children[-1])


def conv_out(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Output length of a convolution/pooling along one axis."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs, unit BN, small linear init: the same for both twins, from the global RNG."""
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["TwinNet", "make_act_factory", "conv_out", "init_weights", "count_parameters"]
