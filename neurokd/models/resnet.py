"""ResNet-18/34 (torchvision layout), ResNet-19 (SNN literature, 128/256/512 x [3, 3, 2]) and ResNet-20
(CIFAR, 16/32/64 x [3, 3, 3]). BasicBlocks; the activation follows the residual add (spiking ResNet).

Block parameter names follow torchvision's BasicBlock (conv1, bn1, conv2, bn2, downsample.0/1); the stem is
``stem.0`` (conv) / ``stem.1`` (bn) and torchvision's ``layerN`` is ``stageN``.
"""

from __future__ import annotations

from torch import Tensor, nn

from neurokd.models.base import ActFactory, TwinNet, init_weights, make_act_factory
from neurokd.models.spec import ModelSpec

RESNET_CFGS: dict[str, tuple[list[int], list[int]]] = {
    "resnet18": ([64, 128, 256, 512], [2, 2, 2, 2]),
    "resnet34": ([64, 128, 256, 512], [3, 4, 6, 3]),
    "resnet19": ([128, 256, 512], [3, 3, 2]),
    "resnet20": ([16, 32, 64], [3, 3, 3]),
}


class BasicBlock(nn.Module):
    """conv3x3-bn-act-conv3x3-bn (+ shortcut) -> act."""

    def __init__(self, cin: int, cout: int, stride: int, act: ActFactory):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
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
    stages, cin = [], widths[0]
    for i, (cout, n) in enumerate(zip(widths, blocks)):
        stride = 1 if i == 0 else 2
        layers = [BasicBlock(cin, cout, stride, act)]
        layers += [BasicBlock(cout, cout, 1, act) for _ in range(n - 1)]
        stages.append(nn.Sequential(*layers))
        cin = cout
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, spec.num_classes))
    model = TwinNet(spec, stem, stages, head)
    init_weights(model)
    return model
