"""A converted SNN streams like a trained one: its initial membrane at every reset, state carried in between."""

import numpy as np
import torch

from neurokd.convert.methods import convert_model
from neurokd.registry import make_backend
from tests.convert.conftest import zoo_ann


def test_stream_backend_steps_equal_the_offline_sequence_from_the_initial_membrane():
    ann = zoo_ann("cnn", [2, 8, 8], activation="qcfs", qcfs_levels=4)
    for m in ann.modules():
        if hasattr(m, "levels"):
            m.threshold.data.fill_(1.5)
    snn = convert_model(ann, 4, "qcfs").model
    assert all(m.v_init > 0 for m in snn.modules() if hasattr(m, "v_init"))
    frames = (torch.rand(2, 4, 2, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    backend = make_backend("torch", snn)
    got = []
    for segment in frames:  # two segments of T = 4 windows, one frame each, reset in between
        backend.reset()
        got += [backend.step(segment[t:t + 1].numpy()) for t in range(4)]
    with torch.no_grad():
        ref = torch.cat([snn.forward_seq(seg.unsqueeze(1))[:, 0] for seg in frames]).numpy()
    np.testing.assert_allclose(np.concatenate(got), ref, rtol=1e-5, atol=1e-6)
