"""Teachers from run folders, state dicts (safetensors, torchvision-style .pth) and ONNX files."""

import pytest
import torch
from safetensors.torch import save_file

from neurokd import load_model
from neurokd.distill.teachers import load_teacher, teacher_from_state_dict
from neurokd.errors import UserError
from tests.distill.conftest import zoo


def _frozen(m):
    return not m.training and not any(p.requires_grad for p in m.parameters())


def test_run_folder_teacher_is_frozen_and_identical(digits_teacher):
    t = load_teacher(digits_teacher, [1, 8, 8], 10)
    assert _frozen(t)
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(t(x), load_model(digits_teacher)(x), rtol=0, atol=0)
    with pytest.raises(UserError, match="trained for input"):
        load_teacher(digits_teacher, [1, 40], 10)


@pytest.mark.parametrize("arch", ["cnn1d", "resnet1d"])
def test_bare_safetensors_state_dict_infers_arch_and_width(tmp_path, arch):
    ref = zoo(arch, [1, 40], width=12)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    t = load_teacher(path, [1, 40], 10)
    assert _frozen(t) and t.spec.arch == arch and t.spec.width == 12
    x = torch.randn(4, 1, 40)
    torch.testing.assert_close(t(x), ref(x), rtol=0, atol=0)


def _torchvision_names(state):
    """The zoo ResNet's keys as torchvision writes them (conv1, bn1, layerN, fc)."""
    out = {}
    for k, v in state.items():
        for zoo_prefix, tv_prefix in (("stem.0.", "conv1."), ("stem.1.", "bn1."), ("head.2.", "fc.")):
            if k.startswith(zoo_prefix):
                k = tv_prefix + k[len(zoo_prefix):]
        if k.startswith("stage"):
            k = "layer" + k[len("stage"):]
        out[k] = v
    return out


@pytest.mark.parametrize("shape,stem", [([3, 16, 16], "cifar"), ([3, 64, 64], "imagenet")])
def test_torchvision_style_resnet_pth(tmp_path, shape, stem):
    ref = zoo("resnet18", shape, width=8, stem=stem)
    tv = _torchvision_names(ref.state_dict())
    assert "layer4.1.bn2.running_var" in tv and "fc.weight" in tv and "conv1.weight" in tv
    path = tmp_path / "resnet18.pth"
    # as training scripts often save it: wrapped, with DataParallel's prefix
    torch.save({"state_dict": {f"module.{k}": v for k, v in tv.items()}, "epoch": 3}, path)
    t = load_teacher(path, shape, 10, arch="resnet18")
    assert _frozen(t) and t.spec.stem == stem
    x = torch.rand(2, *shape)
    torch.testing.assert_close(t(x), ref(x), rtol=0, atol=0)
    # without an arch, every 2-D zoo architecture is tried and resnet18 is the one that fits
    assert load_teacher(path, shape, 10).spec.arch == "resnet18"


def test_bad_teacher_files_give_one_line_errors(tmp_path):
    cases = {}
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage")
    cases["junk.safetensors"] = "not a readable safetensors file"
    (tmp_path / "junk.pth").write_bytes(b"not a zip")
    cases["junk.pth"] = "not a readable weights-only PyTorch file"
    torch.save(zoo("cnn", [1, 8, 8]), tmp_path / "pickled_module.pt")  # a whole pickled model: refused
    cases["pickled_module.pt"] = "weights-only"
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    cases["list.pt"] = "not a state dict"
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    cases["bad.onnx"] = "not a valid ONNX model"
    (tmp_path / "model.h5").write_bytes(b"")
    cases["model.h5"] = "unknown file type"
    cases["missing.pt"] = "not found"
    save_file({"stage1.0.weight": torch.zeros(3, 3)}, str(tmp_path / "odd.safetensors"))
    cases["odd.safetensors"] = "match no zoo"
    for name, needle in cases.items():
        with pytest.raises(UserError) as e:
            load_teacher(tmp_path / name, [1, 8, 8], 10)
        msg = str(e.value)
        assert needle in msg and name in msg and "\n" not in msg, (name, msg)


def test_state_dict_for_other_class_count_names_the_shapes(tmp_path):
    ref = zoo("cnn", [1, 8, 8])
    with pytest.raises(UserError, match=r"head\.1\.weight is \[10, 256\] in the file"):
        teacher_from_state_dict(ref.state_dict(), [1, 8, 8], 5, arch="cnn")


def _export(model, shape, path, exporter):
    x = torch.randn(2, *shape)
    if exporter == "dynamo":  # torch 2.13's default exporter (opset 18+)
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, verbose=False)
    else:  # the TorchScript exporter, opset 17, as older tools write
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
                          opset_version=17)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
def test_onnx_teacher_matches_the_zoo_model(tmp_path, exporter):
    ref = zoo("resnet20", [3, 16, 16], width=8)
    path = tmp_path / "teacher.onnx"
    _export(ref, [3, 16, 16], path, exporter)
    t = load_teacher(path, [3, 16, 16], 10)
    assert _frozen(t) and t.onnx_check_max_abs_diff <= 1e-4
    x = torch.randn(7, 3, 16, 16)
    with torch.no_grad():
        assert (t(x) - ref(x)).abs().max().item() <= 1e-5
    with pytest.raises(UserError, match="takes input"):
        load_teacher(path, [1, 8, 8], 10)
