"""VGG-11/13/16 with BatchNorm (CIFAR-style head). One stage per down-sampling block (5 stages).

``downsample="avgpool"`` ends each stage with 2x2 average pooling (both twins); ``"stride"`` instead gives the
first conv of stages 2..5 stride 2, drops pooling and ends in flatten + linear (netx/Loihi cannot run pooling
layers).
"""

from __future__ import annotations

from torch import nn

from neurokd.models.base import TwinNet, conv_out, init_weights, make_act_factory
from neurokd.models.spec import ModelSpec

VGG_CFGS: dict[str, list[list[int]]] = {
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
}


def build_vgg(spec: ModelSpec) -> TwinNet:
    c, h, w = spec.input_shape  # type: ignore[misc]
    act = make_act_factory(spec)
    scale = (spec.width or 64) / 64
    stride_mode = spec.downsample == "stride"
    stages, cin = [], c
    for si, block in enumerate(VGG_CFGS[spec.arch]):
        layers: list[nn.Module] = []
        for li, base in enumerate(block):
            cout = max(1, int(round(base * scale)))
            s = 2 if (stride_mode and si > 0 and li == 0) else 1
            layers += [nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), act()]
            h, w, cin = conv_out(h, 3, s, 1), conv_out(w, 3, s, 1), cout
        if not stride_mode:
            layers.append(nn.AvgPool2d(2))
            h, w = h // 2, w // 2
        stages.append(nn.Sequential(*layers))
    if h * w == 1 or stride_mode:
        head = nn.Sequential(nn.Flatten(), nn.Linear(cin * h * w, spec.num_classes))
    else:
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, spec.num_classes))
    model = TwinNet(spec, nn.Identity(), stages, head)
    init_weights(model)
    return model
