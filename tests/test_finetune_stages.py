"""finetune_blocks: the backbone's last stages train on cached activations; nothing else moves, and the
exported image graph (shared backbone) carries the fine-tuned weights."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from seje_sdk.errors import InputError
from trainer.backbones import build_backbone, split_backbone
from trainer.features.categories import (ImageSet, load_category_classifier, predict, save_classifier,
                                         train_classifier)
from trainer.features.config import PRESETS, resolve_config

SIZE, CLASSES = 64, 3


def _images(n: int, seed: int) -> ImageSet:
    """Photos whose class is where a bright square sits (left, centre, right) on a noisy background."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    pixels = torch.randint(0, 120, (n, 3, SIZE, SIZE), generator=gen, dtype=torch.uint8)
    for i, c in enumerate(labels.tolist()):
        pixels[i, :, 24:40, 4 + 20 * c:20 + 20 * c] = 250
    return ImageSet([f"img{seed}_{i}" for i in range(n)], pixels, labels, [])


@pytest.fixture(scope="module")
def trained():
    cfg = dataclasses.replace(PRESETS["tiny"], backbone="efficientnet_lite0", pretrained=True, image_size=SIZE,
                              finetune_blocks=1, block_epochs=2, category_folds=2, classifier_batch=16)
    images = {"train": _images(36, 0), "val": _images(9, 1), "test": _images(9, 2)}
    model, logits = train_classifier(images, CLASSES, cfg)
    return model, logits, images


def test_only_the_last_stage_and_conv_head_change(trained):
    model, _, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference, _ = build_backbone("efficientnet_lite0", pretrained=True)
    before, after = reference.state_dict(), model.backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("blocks.6.") and k.endswith("conv_pw.weight") for k in changed)
    assert {k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("blocks.") else "") for k in changed} <= {
        "blocks.6", "conv_head", "bn2"}


def test_logits_are_the_fine_tuned_model_and_train_logits_are_out_of_fold(trained):
    model, logits, images = trained
    for part in ("val", "test"):
        torch.testing.assert_close(logits[part], predict(model, images[part]), atol=1e-4, rtol=1e-4)
    # The training images' logits come from fold models, not from the model that trained on them.
    assert not torch.allclose(logits["train"], predict(model, images["train"]), atol=1e-3)


def test_exported_image_graph_matches_pytorch(trained, tmp_path):
    from export.onnx import IMAGE, export_graph, ort_session
    from trainer.model import ImageEncoder

    model, _, images = trained
    save_classifier(model, SIZE, tmp_path / "category_classifier.pt")
    classifier = load_category_classifier(tmp_path)
    torch.testing.assert_close(classifier.backbone.state_dict(), model.backbone.state_dict())
    encoder = ImageEncoder(None, 0, classifier, torch.randn(CLASSES, 8), 16, freeze_backbone=True,
                           share_backbone=True, category_feature="soft").eval()
    pixels = images["test"].pixels.float().numpy()
    path = export_graph(encoder, [pixels[:2]], IMAGE, tmp_path / "image.onnx")
    got = ort_session(path).run(["category_logits"], {"pixels": pixels})[0]
    with torch.no_grad():
        ref = encoder(torch.from_numpy(pixels))[1].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-3)
    np.testing.assert_allclose(got, predict(model, images["test"]).numpy(), atol=1e-3)


def test_split_backbone_recomposes_and_config_refuses_bad_values():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone, _ = build_backbone("resnet18")
    trunk, top = split_backbone(backbone.eval(), 2)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(top(trunk(x)), backbone(x))
    with pytest.raises(InputError, match="stages must be 1..4"):
        split_backbone(backbone, 5)
    with pytest.raises(InputError, match="finetune_blocks must be 0..7"):
        resolve_config("cpu", {"finetune_blocks": 8})
    with pytest.raises(InputError, match="exclude each other"):
        resolve_config("cpu", {"finetune_blocks": 2, "finetune_epochs": 1})
