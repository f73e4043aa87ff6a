"""The resource guard: exact meta-device measurements, bounds that never undercut them, refusals before any
allocation, and no torch._dynamo import for the models that fit."""

import subprocess
import sys

import pytest
import torch

from neurokd.errors import ResourceError, UserError
from neurokd.guard import bound, check_inference, check_training, measure
from neurokd.models import ModelSpec, build_model

CASES = [("cnn", [1, 8, 8], 4), ("cnn1d", [1, 40], 8), ("resnet20", [3, 16, 16], 8), ("vgg11", [3, 32, 32], 8),
         ("resnet1d", [1, 40], 8)]


def _real_sizes(model, x) -> list[int]:
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: sizes.append(o.numel() * o.element_size()))
             for m in model.modules() if not any(True for _ in m.children())]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return sizes


@pytest.mark.parametrize("arch,shape,width", CASES)
@pytest.mark.parametrize("kind", ["snn", "ann"])
def test_measure_is_exact_and_bound_is_an_upper_bound(arch, shape, width, kind):
    spec = ModelSpec(arch=arch, kind=kind, T=1, width=width, num_classes=10, input_shape=shape)
    model = build_model(spec).eval()
    real = _real_sizes(model, torch.rand(1, *shape))
    fp, out = measure(model, torch.empty(1, *shape, device="meta"))
    assert (fp.step_bytes, fp.peak_bytes) == (sum(real), max(real)) and list(out.shape) == [1, 10]
    assert fp.param_bytes == sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    b = bound(model, shape)
    assert b.param_bytes == fp.param_bytes and b.peak_bytes >= fp.peak_bytes and b.step_bytes >= fp.step_bytes


@pytest.mark.parametrize("field,value", [("width", 100_000), ("T", 10**9), ("input_shape", [1, 100_000, 100_000]),
                                         ("num_classes", 10**10)])
def test_specs_that_cannot_fit_are_refused_without_allocating(field, value):
    spec = ModelSpec(**{"arch": "cnn", "width": 4, "num_classes": 10, "input_shape": [1, 8, 8], field: value})
    with pytest.raises(ResourceError, match=r"^m: a cnn SNN \(.* of parameters\) at T=\d+, batch 1 needs about "
                                            r".* more than the 16 GiB memory limit"):
        check_inference(spec, spec.T, 1, "m")


def test_training_estimates_follow_the_backprop_method():
    spec = ModelSpec(arch="resnet19", T=64, num_classes=10, input_shape=[3, 32, 32])
    check_training(spec, 64, 32, "rate", "r")  # rate-based backprop: graph memory does not grow with T
    with pytest.raises(ResourceError, match=r"backprop bptt needs about .* or --backprop rate"):
        check_training(spec, 64, 32, "bptt", "r")  # about 74 GiB of graph


def test_absurd_sizes_are_one_line_errors():
    with pytest.raises(UserError, match="cannot size a cnn of width 1000000000000000000000000000000"):
        check_inference(ModelSpec(arch="cnn", width=10**30, num_classes=10, input_shape=[1, 8, 8]), 1, 1, "m")


def test_sizing_a_model_that_fits_imports_no_dynamo():
    """torch traces some ops on meta tensors through torch._refs, whose first use imports torch._dynamo (seconds
    per command): the bound must spare it for models that clearly fit."""
    code = ("import sys; from neurokd.guard import check_inference; from neurokd.models import ModelSpec; "
            "check_inference(ModelSpec(arch='resnet20', width=8, num_classes=10, input_shape=[3, 32, 32]), 4, 64, "
            "'m'); print('torch._dynamo' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "False", r.stderr
