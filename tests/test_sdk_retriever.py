"""Retriever on a small real bundle: embeddings, term features, search, index persistence, threads."""
import threading

import numpy as np
import pytest
from PIL import Image
from test_sdk_support import RECIPES, retriever, sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk import Retriever
from seje_sdk.errors import IndexMismatchError, InputError
from seje_sdk.image import preprocess
from seje_sdk.recipe import parse_recipes, recipe_inputs
from seje_sdk.terms import TermTables, term_features


def test_every_image_input_form_gives_the_same_embedding(retriever, sdk_images):
    path = sdk_images[1]
    forms = [path, str(path), path.read_bytes(), Image.open(path), np.asarray(Image.open(path).convert("RGB"))]
    emb = retriever.embed_images(forms)
    assert emb.shape == (5, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb, np.repeat(emb[:1], 5, 0), atol=1e-6)


def test_image_embedding_equals_the_raw_onnx_session(retriever, sdk_bundle, sdk_images):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(sdk_bundle / "image_encoder.onnx"), providers=["CPUExecutionProvider"])
    pixels = np.stack([preprocess(p, retriever.bundle.image_spec) for p in sdk_images])
    expected = sess.run(["embedding"], {"pixels": pixels})[0]
    np.testing.assert_allclose(retriever.embed_images(sdk_images, batch_size=4), expected, atol=1e-5)


def test_batch_size_and_padding_do_not_change_recipe_embeddings(retriever):
    together = retriever.embed_recipes(RECIPES, batch_size=64)
    one_by_one = np.concatenate([retriever.embed_recipes([r]) for r in RECIPES])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert np.abs(together[0] - together[1]).max() > 0.05  # different recipes, different embeddings


def test_onnx_tagger_term_features_equal_the_dictionary_pipeline(retriever, sdk_bundle):
    # The test bundle's tagger marks exactly the entity words, so ORT tagging must give the
    # same key terms (and term features) as seje_sdk.terms' dictionary path.
    tables = TermTables.load(sdk_bundle / "tables")
    recipes = parse_recipes(RECIPES)
    tagger = retriever.sessions["tagger"]
    feeds = recipe_inputs(recipes, tables, 5, 8, lambda t, n: tagger.run({"tokens": t, "lengths": n})["logits"])
    np.testing.assert_allclose(feeds["term_feature"], term_features(recipes, tables, None), atol=1e-6)
    assert feeds["sentence_tokens"].shape[:2] == (3, 3) and feeds["sentence_lengths"][0].tolist() == [8, 7, 0]
    assert np.abs(feeds["term_feature"]).sum(1).min() > 0  # every recipe has key terms


def test_plain_string_list_and_layer1_forms_agree(retriever):
    layer1 = RECIPES[0]
    plain = {"title": layer1["title"], "ingredients": [i["text"] for i in layer1["ingredients"]],
             "instructions": [i["text"] for i in layer1["instructions"]]}
    np.testing.assert_allclose(retriever.embed_recipes([layer1]), retriever.embed_recipes([plain]), atol=1e-6)


def test_image_finds_itself_and_recipe_search_is_exact(sdk_bundle, sdk_images):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.add_images(sdk_images)
    emb = r.embed_images(sdk_images)
    hits = r.search_vectors(emb, "image", k=3)
    assert [h[0][0] for h in hits] == [str(p) for p in sdk_images]
    np.testing.assert_allclose(hits.scores[:, 0], 1.0, atol=1e-5)
    r.add_recipes(RECIPES)
    res = r.search(images=sdk_images, k=3)
    rec = r.embed_recipes(RECIPES)
    order = np.argsort(-(emb @ rec.T), axis=1)
    assert res.ids.tolist() == [[RECIPES[j]["id"] for j in row] for row in order]
    assert res[0][0][0] == res.ids[0, 0] and isinstance(res[0][0][1], float)
    assert r.info()["index"] == {"recipe": 3, "image": len(sdk_images)}


def test_save_load_index_memory_maps_and_refuses_other_bundle(sdk_bundle, sdk_images, tmp_path):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.add_recipes(RECIPES)
    r.save_index(tmp_path / "idx")
    before = r.search(images=sdk_images, k=2)
    r2 = Retriever.load(sdk_bundle, backend="onnxruntime")
    r2.load_index(tmp_path / "idx")
    assert isinstance(r2._indexes["recipe"]._matrix, np.memmap)
    after = r2.search(images=sdk_images, k=2)
    assert after.ids.tolist() == before.ids.tolist()
    np.testing.assert_allclose(after.scores, before.scores, atol=1e-6)
    with pytest.raises(InputError, match=r"k=4 is larger than the index \(3 items\)"):
        r2.search(images=sdk_images[:1], k=4)
    with pytest.raises(IndexMismatchError, match="built with bundle .* queries come from bundle"):
        r2.search_vectors(after.scores[:, :1].repeat(16, 1), "recipe", k=1, fingerprint="another-bundle")


def test_index_from_another_bundle_is_refused(sdk_bundle, tmp_path):
    from test_sdk_support import make_bundle

    other = Retriever.load(make_bundle(tmp_path / "other", seed=1, int8=False), backend="onnxruntime")
    other.add_recipes(RECIPES)
    other.save_index(tmp_path / "idx")
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    with pytest.raises(IndexMismatchError, match="rebuild the index with this bundle"):
        r.load_index(tmp_path / "idx")


def test_int8_variant_runs_and_stays_close(sdk_bundle, sdk_images, retriever):
    r8 = Retriever.load(sdk_bundle, backend="onnxruntime", precision="int8")
    assert r8.info()["precision"] == "int8"
    cos = (r8.embed_images(sdk_images) * retriever.embed_images(sdk_images)).sum(1)
    assert cos.min() > 0.9


def test_threads_give_the_same_results_as_serial(sdk_bundle, sdk_images):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.add_recipes(RECIPES)
    serial_img = r.embed_images(sdk_images, batch_size=2)
    serial_hits = r.search(images=sdk_images, k=3).ids.tolist()
    serial_rec = r.embed_recipes(RECIPES)
    results, errors = [], []

    def work(i):
        try:
            for _ in range(3):
                results.append((r.embed_images(sdk_images, batch_size=2), r.search(images=sdk_images, k=3).ids.tolist(),
                                r.embed_recipes(RECIPES)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 12
    for img, hits, rec in results:
        np.testing.assert_allclose(img, serial_img, atol=1e-6)
        np.testing.assert_allclose(rec, serial_rec, atol=1e-6)
        assert hits == serial_hits


def test_generators_stream_in_chunks_with_progress(retriever, sdk_images, capsys):
    emb = retriever.embed_images((p for p in sdk_images), batch_size=4, show_progress=True)
    assert emb.shape == (len(sdk_images), 16)
    assert "embed images" in capsys.readouterr().err
    parts = list(retriever.iter_image_batches(iter(sdk_images + [b"broken"]), batch_size=4, on_error="skip"))
    assert [p.positions for p in parts] == [[0, 1, 2, 3], [4, 5]] and parts[1].skipped[0][0] == 6
    np.testing.assert_allclose(np.concatenate([p.vectors for p in parts]), emb, atol=1e-6)


def test_length_bucketing_keeps_input_order(retriever):
    # Recipes of very different lengths, interleaved: bucketing sorts them internally, output order must not change.
    long = {"title": "Long", "ingredients": ["flour"], "instructions": ["Mix the flour and sugar in a bowl."] * 5}
    items = [RECIPES[2], long, RECIPES[0], long, RECIPES[1]] * 3
    together = retriever.embed_recipes(items, batch_size=2)
    one_by_one = np.concatenate([retriever.embed_recipes([x]) for x in items[:5]])
    np.testing.assert_allclose(together, np.tile(one_by_one, (3, 1)), atol=1e-5)


def test_a_failed_add_leaves_the_index_untouched(sdk_bundle, sdk_images):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.add_images(sdk_images[:2])
    with pytest.raises(InputError, match=r"images\[1\]"):
        r.add_images([sdk_images[2], b"", sdk_images[3]], ids=["a", "b", "c"])
    assert r.info()["index"]["image"] == 2
    res = r.add_images([sdk_images[2], b"", sdk_images[3]], ids=["a", "b", "c"], on_error="skip")
    assert res.positions == [0, 2] and r._indexes["image"].ids[-2:] == ["a", "c"]


def test_info_reports_what_actually_runs(retriever):
    info = retriever.info()
    assert info["backend"] == "onnxruntime" and info["device"] == "cpu"
    assert info["providers"]["image"] == ["CPUExecutionProvider"]
    assert "device='cpu'" in repr(retriever)


def test_ids_must_match_items(retriever, sdk_bundle):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    with pytest.raises(InputError, match="ids: got 2 ids for 3 items"):
        r.add_recipes(RECIPES, ids=["a", "b"])
    r.add_recipes(RECIPES, ids=[10, 11, 12])
    with pytest.raises(InputError, match=r"duplicate id 11"):
        r.add_recipes(RECIPES[:1], ids=[11])
    with pytest.raises(InputError, match="the image index is empty"):
        r.search(recipes=RECIPES[:1], k=1)
    assert r.search_vectors(r.embed_recipes(RECIPES[:1]), "recipe", k=1).ids.dtype == np.int64
