"""The SDK on the real exported tiny bundle reproduces the PyTorch model it came from (fp32 cosine >= 0.9999)."""
import numpy as np
import pytest

from seje_sdk import Retriever


@pytest.fixture(scope="module")
def reference(tiny_bundle, tiny_run, tiny_data):
    """Validation recipes + first photos, and PyTorch's embeddings of them from the run itself."""
    from trainer.data.recipe1m import read_split
    from trainer.evaluate import embed_images_torch, embed_recipes_torch
    from trainer.features.store import FeatureStore
    from trainer.model import load_run

    model, config = load_run(tiny_run)
    store = FeatureStore.load(config["features_dir"])
    records = read_split(tiny_data, "val")[:24]
    r = Retriever.load(tiny_bundle, backend="onnxruntime", precision="fp32")
    paths = [rec.image_paths[0] for rec in records]
    # Recipes known to the store use the term feature stored at feature time (torch tagger):
    # the SDK must recompute exactly that from raw text with its ONNX tagger.
    torch_rec = embed_recipes_torch(model, records, store, features_dir=config["features_dir"])
    torch_img = embed_images_torch(model, paths, r.bundle.image_spec)
    layer1 = [{"id": rec.id, "title": rec.title, "ingredients": [{"text": t} for t in rec.ingredients],
               "instructions": [{"text": t} for t in rec.instructions]} for rec in records]
    return r, layer1, paths, torch_rec, torch_img


def test_image_embeddings_equal_pytorch(reference):
    r, _, paths, _, torch_img = reference
    cos = (r.embed_images(paths, batch_size=7) * torch_img).sum(1)
    assert cos.min() >= 0.9999, f"min cosine {cos.min():.6f}"


def test_recipe_embeddings_equal_pytorch(reference):
    r, layer1, _, torch_rec, _ = reference
    cos = (r.embed_recipes(layer1, batch_size=5) * torch_rec).sum(1)
    assert cos.min() >= 0.9999, f"min cosine {cos.min():.6f} at recipe {int(cos.argmin())}"


def test_sdk_search_ranks_like_pytorch(reference, tmp_path):
    r, layer1, paths, torch_rec, torch_img = reference
    r.add_recipes(layer1)
    hits = r.search(images=paths, k=5)
    expected = np.argsort(-(torch_img @ torch_rec.T), axis=1)[:, :5]
    assert [row[0] for row in hits.ids.tolist()] == [layer1[j]["id"] for j in expected[:, 0]]
    r.save_index(tmp_path / "idx")
    fresh = Retriever.load(r.bundle, backend="onnxruntime")
    fresh.load_index(tmp_path / "idx")
    assert fresh.search(images=paths, k=5).ids.tolist() == hits.ids.tolist()
