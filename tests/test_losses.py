"""SEJE losses on hand-made embeddings with known answers."""
import math

import torch
import torch.nn.functional as F

from trainer.losses import (Discriminator, alignment_loss, category_loss, critic_loss, generator_loss,
                            gradient_penalty, pairwise_distances, triplet_loss)


def _unit(rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_distances_are_euclidean():
    a, b = _unit([[1, 0], [0, 1]]), _unit([[1, 0], [-1, 0]])
    d = pairwise_distances(a, b)
    assert torch.allclose(d, torch.tensor([[0.0, 2.0], [math.sqrt(2), math.sqrt(2)]]), atol=1e-5)


def test_batch_hard_soft_margin_matches_hand_computation():
    img = _unit([[1, 0], [0, 1], [-1, 0]])
    rec = _unit([[1, 0.2], [0.3, 1], [-1, -0.5]])
    d = torch.cdist(img, rec)
    g = 16.0
    expected = 0.0
    for dist in (d, d.t()):
        for i in range(3):
            neg = min(dist[i, j] for j in range(3) if j != i)
            expected += math.log1p(math.exp(g * (dist[i, i] - neg)))
    expected /= 6  # mean over anchors, averaged over the two directions
    out = triplet_loss(img, rec, labels=None, gamma=g, double_negatives=False)
    assert abs(out["triplet"].item() - expected) < 1e-4
    assert "class" not in out


def test_double_negatives_use_hardest_other_category():
    # img0 and img1 share category 1; rec1 is the instance-hard negative for img0 but the
    # category term must skip it and use rec2 (category 2). Background (0) is never used.
    img = _unit([[1, 0], [1, 0.1], [0, 1], [-1, 0]])
    rec = _unit([[1, 0.05], [1, 0.02], [0.2, 1], [1, 0.01]])
    labels = torch.tensor([1, 1, 2, 0])
    out = triplet_loss(img, rec, labels=labels, gamma=16.0, double_negatives=True)
    d = torch.cdist(img, rec)
    # image->recipe category term: anchors 0,1 (cat 1) -> negative rec2 ; anchor 2 (cat 2) -> min(rec0, rec1)
    terms = [F.softplus(16 * (d[0, 0] - d[0, 2])), F.softplus(16 * (d[1, 1] - d[1, 2])),
             F.softplus(16 * (d[2, 2] - min(d[2, 0], d[2, 1])))]
    dt = d.t()
    terms_r = [F.softplus(16 * (dt[0, 0] - dt[0, 2])), F.softplus(16 * (dt[1, 1] - dt[1, 2])),
               F.softplus(16 * (dt[2, 2] - min(dt[2, 0], dt[2, 1])))]
    expected = (sum(terms) / 3 + sum(terms_r) / 3) / 2
    assert torch.allclose(out["class"], expected, atol=1e-5)
    assert torch.allclose(out["triplet"], out["instance"] + out["class"])


def test_well_separated_pairs_give_near_zero_loss_and_collapsed_give_log2():
    x = torch.eye(4)
    assert triplet_loss(x, x)["triplet"].item() < 1e-6
    same = F.normalize(torch.ones(4, 3), dim=1)
    assert abs(triplet_loss(same, same, double_negatives=False)["triplet"].item() - math.log(2)) < 1e-3


def test_triplet_gradients_pull_pairs_together():
    torch.manual_seed(0)
    img = torch.randn(8, 16, requires_grad=True)
    rec = torch.randn(8, 16)
    opt = torch.optim.SGD([img], lr=0.5)
    before = None
    for _ in range(30):
        loss = triplet_loss(F.normalize(img, dim=1), F.normalize(rec, dim=1), torch.arange(8) % 3)["triplet"]
        before = before if before is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < before * 0.5


def test_category_loss_is_shared_cross_entropy():
    head = torch.nn.Linear(2, 3)
    img, rec = _unit([[1, 0], [0, 1]]), _unit([[1, 1], [0, 1]])
    labels = torch.tensor([2, 0])
    expected = F.cross_entropy(head(img), labels) + F.cross_entropy(head(rec), labels)
    assert torch.allclose(category_loss(head, img, rec, labels), expected)


def test_gradient_penalty_of_a_unit_slope_critic_is_zero():
    critic = torch.nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8, 0.0, 0.0]]))  # |grad| = 1 everywhere
    img, rec = torch.randn(5, 4), torch.randn(5, 4)
    assert gradient_penalty(lambda x: critic(x).squeeze(-1), img, rec).item() < 1e-10
    with torch.no_grad():
        critic.weight.mul_(3.0)  # |grad| = 3 -> (3 - 1)^2 = 4
    assert abs(gradient_penalty(lambda x: critic(x).squeeze(-1), img, rec).item() - 4.0) < 1e-5


def _trained_critic(img, rec, steps=100):
    critic = Discriminator(img.shape[1])
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(steps):
        loss = critic_loss(critic, img, rec, gp_weight=10.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return critic


def test_critic_scores_images_as_real_and_only_the_recipe_encoder_gets_the_adversarial_gradient():
    """As in SEJE's release: images are the real side, and the generator loss reaches the recipe
    branch only; with side="both" the image branch is moved too."""
    torch.manual_seed(0)
    image_encoder, recipe_encoder = torch.nn.Linear(6, 8), torch.nn.Linear(5, 8)
    x_img, x_rec = torch.randn(64, 6) + 2.0, torch.randn(64, 5) - 2.0
    img, rec = F.normalize(image_encoder(x_img), dim=1), F.normalize(recipe_encoder(x_rec), dim=1)
    critic = _trained_critic(img, rec)
    assert critic(img).mean() > critic(rec).mean() + 0.5  # real (images) scored above generated (recipes)
    assert image_encoder.weight.grad is None and recipe_encoder.weight.grad is None  # critic_loss detaches

    critic.zero_grad()
    alignment_loss(critic, img, rec, side="recipe").backward(retain_graph=True)
    assert image_encoder.weight.grad is None and image_encoder.bias.grad is None
    assert recipe_encoder.weight.grad.abs().sum() > 0
    assert torch.allclose(generator_loss(critic, rec), -critic(rec).mean())

    recipe_encoder.zero_grad()
    alignment_loss(critic, img, rec, side="both").backward()
    assert image_encoder.weight.grad.abs().sum() > 0 and recipe_encoder.weight.grad.abs().sum() > 0


def test_generator_steps_move_recipes_towards_what_the_critic_calls_real():
    torch.manual_seed(1)
    img = F.normalize(torch.randn(64, 8) + 2.0, dim=1)
    rec_param = F.normalize(torch.randn(64, 8) - 2.0, dim=1).requires_grad_(True)
    critic = _trained_critic(img, F.normalize(rec_param, dim=1).detach())
    gap = lambda: float((critic(img).mean() - critic(F.normalize(rec_param, dim=1)).mean()).detach())  # noqa: E731
    before = gap()
    opt = torch.optim.Adam([rec_param], lr=0.05)
    for _ in range(50):
        loss = alignment_loss(critic, img, F.normalize(rec_param, dim=1), side="recipe")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert gap() < 0.5 * before, (before, gap())
