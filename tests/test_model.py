"""SEJE model pieces on real (small, randomly initialised) modules."""
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from trainer.features.categories import CategoryClassifier
from trainer.features.skip_instructions import SentenceEncoder
from trainer.model import ImageEncoder, RecipeEncoder, SejeModel, gather_last


def _recipe_encoder(use_term=True):
    torch.manual_seed(0)
    sent = SentenceEncoder(vocab_size=50, word_dim=8, hidden=12)
    return RecipeEncoder(sent, sentence_dim=12, word_dim=8, instruction_dim=10, term_dim=6, embed_dim=16,
                         use_term_feature=use_term)


def _image_encoder(share=False, use_cat=True):
    import warnings

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier = CategoryClassifier("resnet18", num_classes=4)
        from trainer.backbones import build_backbone

        backbone, dim = build_backbone("resnet18")
    vectors = torch.randn(4, 8)
    vectors[0] = 0
    return ImageEncoder(backbone, dim, classifier, vectors, embed_dim=16, use_category_feature=use_cat,
                        classifier_size=32, freeze_backbone=True, share_backbone=share)


def test_gather_last_matches_packed_lstm():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 7, batch_first=True)
    x = torch.randn(4, 6, 5)
    lengths = torch.tensor([6, 3, 1, 4])
    out, _ = lstm(x)
    packed_out, _ = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    padded, _ = pad_packed_sequence(packed_out, batch_first=True)
    want = padded[torch.arange(4), lengths - 1]
    assert torch.allclose(gather_last(out, lengths), want, atol=1e-6)
    assert torch.all(gather_last(out, torch.tensor([0, 1, 1, 1]))[0] == 0)


def test_recipe_encoder_full_graph_equals_fast_path_and_ignores_padding():
    enc = _recipe_encoder().eval()
    tokens = torch.randint(3, 50, (3, 4, 5))
    lengths = torch.tensor([[5, 3, 0, 0], [2, 2, 2, 1], [4, 0, 0, 0]])
    for b in range(3):
        for s in range(4):
            tokens[b, s, lengths[b, s]:] = 0
    terms = torch.randn(3, 8)
    full = enc(tokens, lengths, terms)
    vectors = enc.sentence_vectors(tokens, lengths)
    fast = enc.forward_from_vectors(vectors, torch.tensor([2, 4, 1]), terms)
    assert torch.allclose(full, fast, atol=1e-6)
    assert torch.allclose(full.norm(dim=1), torch.ones(3), atol=1e-5)
    # Extra padded sentences/tokens change nothing (no packed sequences needed).
    tokens2 = F.pad(tokens, (0, 3, 0, 2))
    lengths2 = F.pad(lengths, (0, 2))
    assert torch.allclose(enc(tokens2, lengths2, terms), full, atol=1e-6)
    # The term feature matters, unless the ablation switches it off.
    assert not torch.allclose(enc(tokens, lengths, torch.randn(3, 8)), full)
    off = _recipe_encoder(use_term=False).eval()
    assert torch.allclose(off(tokens, lengths, terms), off(tokens, lengths, torch.randn(3, 8)))


def test_image_encoder_raw_pixels_category_lookup_and_frozen_parts():
    enc = _image_encoder().eval()
    pixels = torch.rand(2, 3, 32, 32) * 255
    emb, logits = enc(pixels)
    assert emb.shape == (2, 16) and logits.shape == (2, 4)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
    # The graph looks up the top-1 class's category vector: same as passing it explicitly.
    explicit, _ = enc(pixels, enc.category_vectors[logits.argmax(1)])
    assert torch.allclose(emb, explicit, atol=1e-6)
    # Raw pixels are normalised inside: same as classifier on ImageNet-normalised input.
    assert torch.allclose(logits, enc.classifier(enc.normalise(pixels)), atol=1e-5)
    enc.train()
    assert not enc.classifier.training and not enc.backbone.training and enc.head.training
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.") for n in trainable)


def test_shared_backbone_runs_one_cnn():
    enc = _image_encoder(share=True).eval()
    assert enc.backbone is enc.classifier.backbone
    pixels = torch.rand(2, 3, 32, 32) * 255
    emb, logits = enc(pixels)
    feats = enc.classifier.backbone(enc.normalise(pixels))
    assert torch.allclose(logits, enc.classifier.head(feats), atol=1e-5)
    assert torch.allclose(emb, enc.embed_features(feats, enc.category_vectors[logits.argmax(1)]), atol=1e-6)


def test_seje_model_trains_its_heads_only():
    model = SejeModel(_image_encoder(share=True), _recipe_encoder(), num_classes=4, embed_dim=16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    img, _ = model.image_encoder(torch.rand(4, 3, 32, 32) * 255)
    rec = model.recipe_encoder(torch.randint(3, 50, (4, 2, 3)), torch.full((4, 2), 3), torch.randn(4, 8))
    loss = ((img - rec) ** 2).sum() + F.cross_entropy(model.category_head(img), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("image_encoder.head") for n in changed)
    assert any(n.startswith("recipe_encoder.instructions") for n in changed)
    assert any(n.startswith("category_head") for n in changed)
    assert not any("classifier" in n or "sentence_encoder" in n or "backbone" in n for n in changed)
