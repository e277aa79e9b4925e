"""Out-of-fold category predictions: training images get the kind of predictions test images get."""
import dataclasses

import torch
from torch import nn

from trainer.features.categories import enough_for_folds, fit_head, image_folds, out_of_fold_logits
from trainer.features.config import PRESETS


def test_out_of_fold_predictions_do_not_carry_memorisation():
    # Pure-noise features with random labels: a head that sees an image memorises its label
    # (in-sample accuracy far above chance), a head that never saw it is at chance.
    cfg = dataclasses.replace(PRESETS["tiny"], head_epochs=60, classifier_lr=1e-2, category_folds=4)
    gen = torch.Generator().manual_seed(0)
    feats, labels = torch.randn(160, 256, generator=gen), torch.randint(0, 4, (160,), generator=gen)
    head = fit_head(nn.Linear(256, 4), feats, labels, cfg, gen, "in-sample head")
    with torch.no_grad():
        in_sample = head(feats)
    oof = out_of_fold_logits(feats, labels, 4, cfg, in_sample)
    acc = lambda logits: float((logits.argmax(1) == labels).float().mean())  # noqa: E731
    assert acc(in_sample) > 0.9
    assert acc(oof) < 0.45  # chance is 0.25
    assert torch.equal(out_of_fold_logits(feats, labels, 4, dataclasses.replace(cfg, category_folds=1), in_sample),
                       in_sample)


def test_out_of_fold_predictions_keep_real_signal():
    cfg = dataclasses.replace(PRESETS["tiny"], head_epochs=20, classifier_lr=1e-2, category_folds=5)
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (150,), generator=gen)
    centres = torch.randn(3, 16, generator=gen) * 3
    feats = centres[labels] + torch.randn(150, 16, generator=gen)
    oof = out_of_fold_logits(feats, labels, 3, cfg, torch.zeros(150, 3))
    assert float((oof.argmax(1) == labels).float().mean()) > 0.9


def test_folds_keep_a_recipes_photos_together():
    groups = [f"r{i // 3}" for i in range(60)] + ["solo"]
    fold = image_folds(len(groups), 5, seed=2, groups=groups)
    by_recipe = {}
    for g, f in zip(groups, fold.tolist()):
        by_recipe.setdefault(g, set()).add(f)
    assert all(len(folds) == 1 for folds in by_recipe.values())
    assert sorted(set(fold.tolist())) == [0, 1, 2, 3, 4]
    assert not enough_for_folds(60, 5, [f"r{i % 9}" for i in range(60)])  # 9 recipes < 2 x 5 folds
    assert enough_for_folds(60, 5, groups)


def test_sibling_photos_do_not_leak_into_out_of_fold_predictions():
    # Two near-identical photos per recipe, labels random per recipe: a fold model that saw one
    # sibling names the other's label (a leak); with recipe-grouped folds it is at chance.
    cfg = dataclasses.replace(PRESETS["tiny"], head_epochs=60, classifier_lr=1e-2, category_folds=4)
    gen = torch.Generator().manual_seed(3)
    recipe_feats, recipe_labels = torch.randn(80, 256, generator=gen), torch.randint(0, 4, (80,), generator=gen)
    feats = recipe_feats.repeat_interleave(2, 0) + 0.05 * torch.randn(160, 256, generator=gen)
    labels, groups = recipe_labels.repeat_interleave(2), [f"r{i // 2}" for i in range(160)]
    acc = lambda logits: float((logits.argmax(1) == labels).float().mean())  # noqa: E731
    leaky = out_of_fold_logits(feats, labels, 4, cfg, torch.zeros(160, 4))
    grouped = out_of_fold_logits(feats, labels, 4, cfg, torch.zeros(160, 4), groups)
    assert acc(leaky) > 0.6
    assert acc(grouped) < 0.45  # chance is 0.25
