"""ResNet-18/34 (torchvision layout), ResNet-19 (SNN literature, 128/256/512 x [3, 3, 2]), ResNet-20
(CIFAR, 16/32/64 x [3, 3, 3]) and ``resnet1d`` (ResNet-18's 4 x 2 BasicBlocks in 1-D, for MNIST-1D).
BasicBlocks; the activation follows the residual add (spiking ResNet).

Block parameter names follow torchvision's BasicBlock (conv1, bn1, conv2, bn2, downsample.0/1); the stem is
``stem.0`` (conv) / ``stem.1`` (bn) and torchvision's ``layerN`` is ``stageN``.
"""

from __future__ import annotations

from torch import Tensor, nn

from neurokd.models.base import ActFactory, TwinNet, conv_out, init_weights, make_act_factory
from neurokd.models.spec import ModelSpec

RESNET_CFGS: dict[str, tuple[list[int], list[int]]] = {
    "resnet18": ([64, 128, 256, 512], [2, 2, 2, 2]),
    "resnet34": ([64, 128, 256, 512], [3, 4, 6, 3]),
    "resnet19": ([128, 256, 512], [3, 3, 2]),
    "resnet20": ([16, 32, 64], [3, 3, 3]),
}
RESNET1D_BLOCKS = [2, 2, 2, 2]  # ResNet-18's stage layout; widths w, 2w, 4w, 8w
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


class BasicBlock(nn.Module):
    """conv3x3-bn-act-conv3x3-bn (+ shortcut) -> act; ``dims`` 2 (images) or 1 (signals, kernel 3)."""

    def __init__(self, cin: int, cout: int, stride: int, act: ActFactory, dims: int = 2):
        super().__init__()
        conv, bn = _CONV[dims], _BN[dims]
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = bn(cout)
        self.act1 = act()
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = bn(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride, bias=False), bn(cout))
        self.act2 = act()

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act2(out + identity)


def build_resnet(spec: ModelSpec) -> TwinNet:
    c, h, _w = spec.input_shape  # type: ignore[misc]
    widths, blocks = RESNET_CFGS[spec.arch]
    if spec.width:
        widths = [spec.width * w // widths[0] for w in widths]
    act = make_act_factory(spec)
    stem_kind = spec.stem if spec.stem != "auto" else ("imagenet" if h >= 64 else "cifar")
    if stem_kind == "imagenet":
        stem = nn.Sequential(
            nn.Conv2d(c, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]), act(), nn.MaxPool2d(3, 2, 1)
        )
    else:
        stem = nn.Sequential(nn.Conv2d(c, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), act())
    stages = _stages(widths, blocks, act, dims=2)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], spec.num_classes))
    model = TwinNet(spec, stem, stages, head)
    init_weights(model)
    return model


def _stages(widths: list[int], blocks: list[int], act: ActFactory, dims: int) -> list[nn.Module]:
    """One ``nn.Sequential`` of BasicBlocks per stage; every stage after the first halves the resolution."""
    stages, cin = [], widths[0]
    for i, (cout, n) in enumerate(zip(widths, blocks)):
        layers = [BasicBlock(cin, cout, 1 if i == 0 else 2, act, dims)]
        layers += [BasicBlock(cout, cout, 1, act, dims) for _ in range(n - 1)]
        stages.append(nn.Sequential(*layers))
        cin = cout
    return stages


def build_resnet1d(spec: ModelSpec) -> TwinNet:
    """stem: k5 conv1d w; stage1..4: 2 BasicBlocks each (kernel 3), widths w/2w/4w/8w, stride 2 from stage2
    (length 40 -> 40/20/10/5); head: flatten + linear. No pooling, so the SNN exports to NIR as is, and the
    flatten head keeps the position information a global pool would average away (as ``cnn1d``'s head)."""
    c, length = spec.input_shape  # type: ignore[misc]
    w = spec.width or 16
    widths = [w, 2 * w, 4 * w, 8 * w]
    act = make_act_factory(spec)
    stem = nn.Sequential(nn.Conv1d(c, w, 5, 1, 2, bias=False), nn.BatchNorm1d(w), act())
    stages = _stages(widths, RESNET1D_BLOCKS, act, dims=1)
    for _ in RESNET1D_BLOCKS[1:]:
        length = conv_out(length, 3, 2, 1)
    head = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * length, spec.num_classes))
    model = TwinNet(spec, stem, stages, head)
    init_weights(model)
    return model
