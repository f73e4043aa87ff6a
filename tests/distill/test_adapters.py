"""Adapters between student and teacher tap shapes."""

import pytest
import torch
from torch import nn

from neurokd.distill.adapters import make_adapter
from neurokd.errors import ConfigError


def _run(adapter, s_shape, t_shape):
    adapter.train()
    xs, xt = torch.randn(4, *s_shape), torch.randn(4, *t_shape)
    return adapter(xs), adapter.align_teacher(xt)


@pytest.mark.parametrize("s,t,layers", [
    ([16, 10], [64, 10], [nn.Conv1d, nn.BatchNorm1d]),
    ([8, 8, 8], [32, 8, 8], [nn.Conv2d, nn.BatchNorm2d]),
    ([32, 8, 8], [64, 4, 4], [nn.AdaptiveAvgPool2d, nn.Conv2d, nn.BatchNorm2d]),
    ([128, 10], [256], "GlobalPool Linear BatchNorm1d"),
    ([100], [10], [nn.Linear, nn.BatchNorm1d]),
])
def test_mismatched_channels_get_a_1x1_adapter(s, t, layers):
    a = make_adapter(s, t, "stage3", "layer4")
    names = [type(m).__name__ for m in a.student]
    expected = layers.split() if isinstance(layers, str) else [m.__name__ for m in layers]
    assert names == expected
    out, target = _run(a, s, t)
    assert out.shape == target.shape == (4, *t)
    conv = next(m for m in a.student if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear))
    assert conv.weight.shape[:2] == (t[0], s[0])
    if isinstance(conv, nn.Conv1d | nn.Conv2d):
        assert set(conv.kernel_size) == {1}


def test_equal_shapes_use_identity_unless_always():
    a = make_adapter([32, 4, 4], [32, 4, 4])
    assert isinstance(a.student, nn.Identity) and a.teacher_pool is None
    b = make_adapter([32, 4, 4], [32, 4, 4], mode="always")
    assert [type(m).__name__ for m in b.student] == ["Conv2d", "BatchNorm2d"]


def test_spatial_sizes_pool_down_on_either_side():
    # student smaller: the teacher target is pooled, the student map passes through
    a = make_adapter([16, 2, 2], [16, 8, 8])
    out, target = _run(a, [16, 2, 2], [16, 8, 8])
    assert isinstance(a.student, nn.Identity) and out.shape == target.shape == (4, 16, 2, 2)
    # taller vs wider: both pooled to the common (min) size
    b = make_adapter([8, 8, 2], [4, 2, 8])
    out, target = _run(b, [8, 8, 2], [4, 2, 8])
    assert out.shape == target.shape == (4, 4, 2, 2)
    # exact average pooling of the teacher target
    t = torch.arange(16.0).view(1, 1, 4, 4)
    c = make_adapter([1, 2, 2], [1, 4, 4])
    torch.testing.assert_close(c.align_teacher(t), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    # vector student against a map teacher: the teacher is globally pooled
    d = make_adapter([32], [64, 3, 3])
    out, target = _run(d, [32], [64, 3, 3])
    assert out.shape == target.shape == (4, 64)


def test_unalignable_shapes_name_both_modules_and_shapes():
    with pytest.raises(ConfigError) as e:
        make_adapter([16, 40], [32, 8, 8], "stage2", "layer3.1")
    msg = str(e.value)
    assert "'stage2' [16, 40]" in msg and "'layer3.1' [32, 8, 8]" in msg and "\n" not in msg
