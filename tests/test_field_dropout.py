"""Field dropout: seeded masks at the configured rate, and partial recipes that the trainer and the
exported graph (through the SDK) embed identically."""
import numpy as np
import pytest
import torch

from seje_sdk.errors import InputError
from trainer.config import resolve_config
from trainer.field_dropout import FULL, INSTRUCTIONS, PARTIAL, TITLE, FieldDropout, keep_fields, mask_name


def dropout(p: float, n: int = 4, width: int = 3) -> FieldDropout:
    full = torch.ones(n, width)
    partial = {m: np.full((n, width), float(m), np.float32) for m in PARTIAL}
    return FieldDropout(p, full, partial, seed=0)


def test_masks_are_seeded_and_drop_at_the_configured_rate():
    fd = dropout(0.3)
    masks = fd.masks(epoch=2, n=60_000)
    assert np.array_equal(masks, fd.masks(epoch=2, n=60_000)) and not np.array_equal(masks, fd.masks(epoch=3, n=60_000))
    assert abs((masks != FULL).mean() - 0.3) < 0.01
    for m in PARTIAL:  # the six partial recipes are equally likely
        assert abs((masks == m).mean() - 0.05) < 0.005, mask_name(m)
    assert (dropout(0.0).masks(0, 1000) == FULL).all()


def test_apply_removes_instructions_and_takes_the_partial_term_feature():
    fd = dropout(0.5)
    masks = np.array([FULL, TITLE, INSTRUCTIONS, TITLE | INSTRUCTIONS])
    counts, terms = fd.apply(np.arange(4), masks, torch.tensor([3, 4, 5, 6]))
    assert counts.tolist() == [3, 0, 5, 6]
    assert terms[:, 0].tolist() == [1.0, float(TITLE), float(INSTRUCTIONS), float(TITLE | INSTRUCTIONS)]


def test_field_dropout_is_validated_and_recorded_as_a_deviation():
    from trainer.config import DEVIATIONS

    assert resolve_config("cpu").field_dropout == 0.0 and resolve_config("tiny").field_dropout == 0.3
    assert "field_dropout" in DEVIATIONS
    with pytest.raises(InputError, match="field_dropout must be in"):
        resolve_config("cpu", overrides={"field_dropout": 1.0})


def test_trainer_and_exported_graph_agree_on_partial_recipes(tiny_run, tiny_bundle, tiny_data):
    """The trainer's partial recipe (precomputed vectors, count 0 without instructions, partial term
    feature) equals the SDK's embedding of the same partial dict through the exported ONNX graph."""
    from seje_sdk import Retriever
    from trainer.data.recipe1m import read_split
    from trainer.datasets import recipe_tensors
    from trainer.features.store import FeatureStore
    from trainer.field_dropout import partial_term_features, recipe_texts
    from trainer.model import load_run

    model, config = load_run(tiny_run)
    assert config["field_dropout"] > 0  # the tiny preset trains with field dropout
    store = FeatureStore.load(config["features_dir"])
    records = read_split(tiny_data, "val")[:12]
    texts = recipe_texts(tiny_data, [r.id for r in records], "val")
    tensors = recipe_tensors(store, [store.index_of(r.id) for r in records], int(store.config["max_sentences"]))
    partial = partial_term_features(texts, config["features_dir"], store)
    r = Retriever.load(tiny_bundle, backend="onnxruntime")
    assert r.bundle.title_terms
    for mask in PARTIAL:
        kept = [keep_fields(t, mask) for t in texts]
        res = r.embed_recipes([{"title": k.title, "ingredients": list(k.ingredients), "instructions": list(k.instructions)}
                               for k in kept], on_error="skip")
        assert len(res.positions) >= len(kept) // 2, (mask_name(mask), res.skipped)
        counts = tensors.counts if mask & INSTRUCTIONS else torch.zeros_like(tensors.counts)
        with torch.inference_mode():
            want = model.recipe_encoder.forward_from_vectors(tensors.vectors, counts, torch.from_numpy(partial[mask])).numpy()
        cos = (res.vectors * want[res.positions]).sum(1)
        assert cos.min() >= 0.9999, f"{mask_name(mask)}: min cosine {cos.min():.6f}"
