"""The text query encoder: trained by `seje-train fit` (tiny preset) and alone, exported with a parity
check, and used by the SDK for typed text without torch; bundles without it answer the old way."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_sdk_support import titled_bundle, titled_retriever  # noqa: F401  (session fixtures)

from seje_sdk.text import Vocab
from seje_sdk.text_query import encode_texts, known_ids, pad_token_ids
from trainer.query_encoder import FORMS, RecipeWords, load_text_encoder, sample_text


@pytest.fixture(scope="module")
def photo_retriever(tiny_bundle, tiny_data):
    from seje_sdk import Retriever
    from trainer.data.recipe1m import read_split

    r = Retriever.load(tiny_bundle, backend="onnxruntime")
    test = read_split(tiny_data, "test", require_images=True)
    r.add_images([t.image_paths[0] for t in test], ids=[t.id for t in test])
    return r, test


def test_encoding_keeps_known_words_and_pads():
    vocab = Vocab.build(["beet", "pancakes", "grilled"])
    assert known_ids("Grilled Beet Pancakes, 2 cups zzz", vocab) == [vocab.id("grilled"), vocab.id("beet"),
                                                                     vocab.id("pancakes")]
    ids = encode_texts(["beet", "grilled beet pancakes", "zzz"], vocab)
    assert ids.shape == (3, 3) and ids.dtype == np.int64 and ids[2].tolist() == [0, 0, 0]
    assert pad_token_ids([[5] * 60], max_tokens=48).shape == (1, 48)


def test_training_texts_take_every_form_and_only_the_recipes_words():
    words = RecipeWords(title=[10, 11, 12], ingredients=[[20], [21, 22], [23]])
    rng = np.random.default_rng(0)
    drawn = [tuple(sample_text(words, rng)) for _ in range(400)]
    assert all(d and set(d) <= {10, 11, 12, 20, 21, 22, 23} for d in drawn)
    assert (10, 11, 12) in drawn  # title only
    assert any(d[:3] == (10, 11, 12) and len(d) > 3 for d in drawn)  # title + ingredient names
    assert any(set(d) <= {20, 21, 22, 23} for d in drawn)  # ingredient names only
    assert any(set(d) < {10, 11, 12} for d in drawn)  # a few of the title's words
    assert sample_text(RecipeWords([], [[20]]), rng) == [20] and len(FORMS) == 4


def test_fit_trains_the_text_encoder_and_it_embeds_titles(tiny_run):
    summary = json.loads((tiny_run / "text_encoder.json").read_text())
    assert len(summary["history"]) == 3 and 1 <= summary["best_epoch"] <= 3  # tiny preset: 3 epochs
    encoder = load_text_encoder(tiny_run)
    ids = torch.tensor([[5, 6, 0], [7, 0, 0]])
    out = encoder(ids)
    assert out.shape == (2, 64) and torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(out[0], out[1])


def test_text_encoder_alone_on_an_existing_run(tiny_run, tmp_path):
    from trainer.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "text_encoder.pt").unlink()
    res = CliRunner().invoke(main, ["text-encoder", "--run", str(run), "--epochs", "2", "--seed", "3"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "best epoch" in res.output and json.loads((run / "text_encoder.json").read_text())["config"]["seed"] == 3
    # The model itself is untouched: the checkpoint is byte-identical.
    assert (run / "checkpoints" / "best.pt").read_bytes() == (tiny_run / "checkpoints" / "best.pt").read_bytes()


def test_export_writes_the_graph_with_a_parity_check(tiny_bundle, tiny_run):
    import onnxruntime as ort

    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    entry = manifest["text_encoder"]
    assert entry["model"] == "text_encoder.onnx" and entry["model"] in manifest["files"]
    assert entry["parity"]["cos_min"] >= 0.9999 and entry["parity"]["n_texts"] > 10
    vocab = Vocab.load(tiny_bundle / "tables" / "vocab.json")
    ids = encode_texts(["tomato pasta", "soup with red wine and garlic", "salt"], vocab)
    session = ort.InferenceSession(str(tiny_bundle / "text_encoder.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"token_ids": ids})[0]
    with torch.inference_mode():
        want = load_text_encoder(tiny_run)(torch.from_numpy(ids)).numpy()
    assert (np.sum(got * want, axis=1) > 0.9999).all()


def test_typed_text_goes_through_the_text_encoder(photo_retriever):
    r, test = photo_retriever
    assert r.info()["text_encoder"] is True
    titles = [t.title for t in test[:4]]
    res = r.search(text=[f"{titles[0]} zzqxv", *titles[1:]], k=3)
    assert len(res[0]) == 3 and res.unknown_words[0] == ["zzqxv"] and res.unknown_words[1] == []
    vectors = r.embed_texts(titles)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(r.embed_texts(titles[0]), r.embed_texts(f"{titles[0]} zzqxv"), atol=1e-6)
    # Typed text is no longer the title-only recipe of the recipe graph.
    assert not np.allclose(vectors[:1], r.embed_recipes([{"title": titles[0]}]), atol=1e-3)


def test_a_misspelt_word_is_read_as_the_word_it_is_spelt_like(photo_retriever):
    from typo_support import misspelt

    r, test = photo_retriever
    title = next(t.title for t in test if any(len(w) >= 5 for w in t.title.split()))
    typed, typo, word = misspelt(title, r.tables.vocab)
    res = r.search(text=[typed, title], k=3)
    assert res.substitutes == [{typo: word}, {}] and res.unknown_words == [[], []]
    assert res.ids[0].tolist() == res.ids[1].tolist()  # read back, the typed words are the title's
    np.testing.assert_allclose(r.embed_texts(typed), r.embed_texts(title), atol=1e-6)


def test_cli_search_text_prints_photo_hits(photo_retriever, tiny_bundle, tmp_path):
    from seje_sdk.cli import main

    r, test = photo_retriever
    index = r.save_index(tmp_path / "idx")
    args = ["search", str(tiny_bundle), "--index", str(index), "--text", f"{test[0].title} zzqxv", "-k", "3",
            "--backend", "onnxruntime"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "zzqxv" in res.output and all(str(i) in res.output for i, _ in r.search(text=test[0].title, k=3)[0])


@pytest.mark.parametrize("recipe", [
    {"title": "tomato pasta"}, {"ingredients": ["2 cups rice", "1 onion"]}, {"instructions": ["Boil the rice."]},
    {"title": "tomato pasta", "ingredients": ["salt"]}, {"title": "soup", "instructions": "Stir. Serve."},
    {"ingredients": ["salt"], "instructions": ["Stir."]},
])
def test_each_partial_recipe_form_is_a_query(photo_retriever, recipe):
    r, _ = photo_retriever
    hits = r.search(recipes=[recipe], k=2)[0]
    assert len(hits) == 2


def test_the_sdk_embeds_text_without_torch(tiny_bundle):
    code = (f"from seje_sdk import Retriever\nimport sys\nr = Retriever.load({str(tiny_bundle)!r}, backend='onnxruntime')\n"
            "v = r.embed_texts(['tomato pasta'])\nassert v.shape[0] == 1\n"
            "print(','.join(m for m in ('torch', 'gensim', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_bundle_without_a_text_encoder_answers_the_old_way(titled_retriever):
    assert titled_retriever.bundle.text_encoder is None and titled_retriever.info()["text_encoder"] is False
    np.testing.assert_allclose(titled_retriever.embed_texts(["tomato pasta"]),
                               titled_retriever.embed_recipes([{"title": "tomato pasta"}]), atol=1e-6)
