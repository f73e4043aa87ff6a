"""Streaming backends: what turns each window's frames into logits while keeping network state.

A backend implements :class:`StreamBackend`: ``step(frames)`` takes the window's frames ``[S, P, H, W]`` (event
counts, ``S`` steps per window) and returns per-step logits ``[S, K]``, continuing from the state the previous
call left; ``reset()`` clears that state. This module holds the protocol and the float-SNN backend; the
registry that names every backend (including those of upper layers) belongs to the application layer.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from neurokd.errors import UserError


class StreamBackend(Protocol):
    name: str
    input_shape: tuple[int, int, int]  # (P, H, W) of one frame
    num_classes: int

    def reset(self) -> None: ...

    def step(self, frames: np.ndarray) -> np.ndarray: ...


class TorchSNNBackend:
    """The float SNN (BatchNorm folded, eval mode) run statefully with PyTorch, batch of one stream."""

    name = "torch"

    def __init__(self, model, threads: int | None = None):
        from neurokd.models.fold import inference_model

        if not getattr(model, "is_snn", False):
            raise UserError("streaming needs a spiking model (kind: snn); this model is an ANN")
        if threads:
            torch.set_num_threads(threads)
        self.model = inference_model(model).to(memory_format=torch.contiguous_format).cpu()
        self.model.set_stateful(True)
        shape = tuple(model.spec.input_shape)
        if len(shape) != 3:
            raise UserError(f"streaming needs an image model (input [P, H, W]), this one takes {list(shape)}")
        self.input_shape = shape  # type: ignore[assignment]
        self.num_classes = int(model.spec.num_classes)

    def reset(self) -> None:
        self.model.reset_state()

    @torch.inference_mode()
    def step(self, frames: np.ndarray) -> np.ndarray:
        S = frames.shape[0]
        if self.model.T != S:
            self.model.set_T(S)
        x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).unsqueeze(1)
        return self.model.forward_seq(x)[:, 0].numpy()
