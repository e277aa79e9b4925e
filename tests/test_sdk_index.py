"""Exact and FAISS indexes: top-k equals brute force, persistence is atomic and memory-mapped, ids round-trip."""
import json

import numpy as np
import pytest

from seje_sdk.errors import IndexMismatchError, InputError
from seje_sdk.index import ExactIndex, topk_blockwise
from seje_sdk.indexes import load_index, new_index


def _unit(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(n, d, seed=0, centres=20):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d))
    x = c[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("block_rows", [7, 64, 100000])
def test_blockwise_topk_equals_full_sort(block_rows):
    base, queries = _unit(500, 32), _unit(9, 32, seed=1)
    scores, rows = topk_blockwise(queries, base, k=10, block_rows=block_rows)
    full = queries @ base.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :10]
    assert rows.tolist() == expected.tolist()
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), atol=1e-6)


def test_ties_break_by_insertion_order():
    idx = ExactIndex(2, "fp")
    idx.add(np.array([[1, 0], [1, 0], [0, 1]], np.float32), ids=["b", "a", "c"])
    assert idx.search(np.array([[1, 0]], np.float32), k=2)[0] == [("b", 1.0), ("a", 1.0)]


def test_save_load_roundtrip_mmap_and_checks(tmp_path):
    idx = ExactIndex(32, "fp-1", dtype="float16")
    base = _unit(200, 32)
    idx.add(base[:150], ids=list(range(150)))
    idx.add(base[150:], ids=[f"r{i}" for i in range(50)])
    q = _unit(4, 32, seed=3)
    before = idx.search(q, k=5, fingerprint="fp-1")
    idx.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert isinstance(loaded._matrix, np.memmap) and loaded._matrix.dtype == np.float16
    after = loaded.search(q, k=5, fingerprint="fp-1")
    assert after.ids.tolist() == before.ids.tolist() and len(loaded) == 200
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["fingerprint"] == "fp-1" and manifest["embedding_dim"] == 32 and manifest["count"] == 200
    # fp16 storage keeps the exact ranking of the fp32 scores here, and scores to ~1e-3.
    np.testing.assert_allclose(after.scores, np.sort(q @ base.T, axis=1)[:, ::-1][:, :5], atol=2e-3)
    with pytest.raises(IndexMismatchError, match="built with bundle fp-1"):
        loaded.search(q, k=5, fingerprint="fp-2")
    with pytest.raises(IndexMismatchError, match="the index holds 32-d vectors"):
        loaded.search(_unit(1, 16), k=1)
    (tmp_path / "idx" / "ids.json").write_text("[]")
    with pytest.raises(IndexMismatchError, match="ids.json is missing or does not match its sha256"):
        load_index(tmp_path / "idx")


def test_save_is_atomic(tmp_path):
    idx = ExactIndex(4, "fp")
    idx.add(np.eye(4, dtype=np.float32), ids=list("abcd"))
    idx.save(tmp_path / "idx")
    broken = ExactIndex(4, "fp")
    broken._ids = [object()]  # not JSON-serialisable: writing ids.json fails midway
    with pytest.raises(TypeError):
        broken.save(tmp_path / "idx")
    assert load_index(tmp_path / "idx").ids == list("abcd")  # the old index is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temp folders left behind


def test_k_and_emptiness_errors():
    idx = ExactIndex(4, "fp")
    with pytest.raises(InputError, match="the index is empty"):
        idx.search(np.eye(4, dtype=np.float32), k=1)
    idx.add(np.eye(4, dtype=np.float32), ids=list("abcd"))
    with pytest.raises(InputError, match=r"k=5 is larger than the index \(4 items\)"):
        idx.search(np.eye(4, dtype=np.float32), k=5)
    with pytest.raises(InputError, match="k must be a positive int"):
        idx.search(np.eye(4, dtype=np.float32), k=0)
    with pytest.raises(InputError, match="NaN"):
        idx.add(np.full((1, 4), np.nan, np.float32), ids=["e"])
    with pytest.raises(InputError, match=r"ids\[0\]: ids must be str or int"):
        idx.add(np.eye(4, dtype=np.float32)[:1], ids=[1.5])


@pytest.mark.parametrize("kind, params, min_recall", [("hnsw", {}, 0.85), ("hnsw", {"ef_search": 256}, 0.97),
                                                      ("ivf", {"nlist": 16, "nprobe": 16}, 0.99), ("ivf", {"nlist": 32, "nprobe": 4}, 0.6),
                                                      ("ivfpq", {"nlist": 8, "m": 8, "nbits": 6, "nprobe": 4}, 0.3)])
def test_faiss_indexes_recall_and_persist(tmp_path, kind, params, min_recall):
    """Recall@10 vs exact (chance is 10/1500); PQ codes cap the recall of IVF-PQ."""
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(1)  # OpenMP spinning on a shared 2-core box costs more than it gives here
    base, queries = _clustered(1500, 32), _clustered(50, 32, seed=1)
    idx = new_index(kind, 32, "fp", "recipe", **params)
    ids = [f"r{i}" for i in range(len(base))]
    idx.add(base, ids)
    exact = ExactIndex(32, "fp")
    exact.add(base, ids)
    got, want = idx.search(queries, k=10, fingerprint="fp"), exact.search(queries, k=10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.ids.tolist(), want.ids.tolist())])
    assert recall >= min_recall, f"{kind} recall@10 {recall:.2f}"
    idx.save(tmp_path / kind)
    again = load_index(tmp_path / kind).search(queries, k=10, fingerprint="fp")
    assert again.ids.tolist() == got.ids.tolist()


def test_ivf_reranks_with_float16_scores_and_keeps_its_settings(tmp_path):
    """Every cell probed: IVF-SQ8 + float16 re-rank returns the exact top-10 with scores within float16 error."""
    pytest.importorskip("faiss")
    base, queries = _clustered(2000, 48, seed=2), _clustered(20, 48, seed=3)
    idx = new_index("ivf", 48, "fp", "image", nlist=8, nprobe=8, shortlist_factor=2, train_size=1000)
    idx.add(base[:1200], list(range(1200)))  # trains on a 1,000-row sample of this first add
    idx.add(base[1200:], list(range(1200, 2000)))
    got = idx.search(queries, k=10, fingerprint="fp")
    scores = queries @ base.T
    want = np.argsort(-scores, axis=1)[:, :10]
    assert np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.ids.tolist(), want.tolist())]) >= 0.99
    assert np.allclose(got.scores, np.take_along_axis(scores, np.asarray(got.ids.tolist()), 1), atol=2e-3)
    idx.save(tmp_path / "ivf")
    again = load_index(tmp_path / "ivf")
    assert (again.kind, again.modality, len(again), again.params) == ("ivf", "image", 2000, idx.params)
    assert again.search(queries, k=10, fingerprint="fp").ids.tolist() == got.ids.tolist()


def test_live_index_over_an_ivf_base_takes_writes_and_deletes(tmp_path):
    """A saved ivf folder opened live: written vectors are found, deleted ones are not; compaction is refused clearly."""
    pytest.importorskip("faiss")
    from seje_sdk.indexes import save_indexes
    from seje_sdk.live_index import LiveIndex

    base = _clustered(800, 32, seed=4)
    idx = new_index("ivf", 32, "fp", "recipe", nlist=8, nprobe=8)
    idx.add(base, [f"r{i}" for i in range(800)])
    save_indexes(tmp_path / "idx", {"recipe": idx}, "fp", "ivf")
    live = LiveIndex.open(tmp_path / "live", tmp_path / "idx", "fp", 32)
    new = _clustered(1, 32, seed=5)
    live.put("recipe", "new", new[0])
    assert live.modalities["recipe"].search(new, k=1, fingerprint="fp").ids[0, 0] == "new"
    nearest = live.modalities["recipe"].search(base[:1], k=1, fingerprint="fp").ids[0, 0]
    assert nearest == "r0" and live.delete("recipe", "r0")
    assert "r0" not in live.modalities["recipe"].search(base[:1], k=10, fingerprint="fp").ids[0].tolist()
    with pytest.raises(InputError, match="compaction folds into exact kinds only.*'ivf'"):
        live.compact()
    live.close()


@pytest.mark.parametrize("params, message", [({"nprobe": 0}, "nprobe must be an integer from 1"),
                                             ({"nlist": 2.5}, "nlist must be an integer"),
                                             ({"shortlist_factor": True}, "shortlist_factor must be an integer"),
                                             ({"nlist": 16, "probes": 3}, r"unknown parameters \['probes'\]")])
def test_ivf_refuses_bad_parameters_before_any_work(params, message):
    pytest.importorskip("faiss")
    with pytest.raises(InputError, match=message):
        new_index("ivf", 8, "fp", "recipe", **params)


def test_unknown_kind_and_params():
    with pytest.raises(InputError, match="unknown index kind 'annoy'"):
        new_index("annoy", 4, "fp", "recipe")
    pytest.importorskip("faiss")
    with pytest.raises(InputError, match=r"unknown parameters \['efs'\]"):
        new_index("hnsw", 4, "fp", "recipe", efs=3)


def test_docstring_examples_run():
    import doctest

    import seje_sdk.index
    import seje_sdk.indexes
    import seje_sdk.recipe
    import seje_sdk.topk

    for module in (seje_sdk.index, seje_sdk.indexes, seje_sdk.recipe, seje_sdk.topk):
        assert doctest.testmod(module).failed == 0


def test_int8_scores_equal_integer_matmul_at_the_extremes():
    """ONNX Runtime's u8 x s8 matmul is exact for full-range codes and 7-bit queries (no int16 saturation on AVX2)."""
    from seje_sdk.index_int8 import Int8ScoreSession

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (300, 64)).astype(np.uint8)
    codes[0], codes[1] = 255, 0  # the extremes, against extreme queries below
    queries = rng.integers(-63, 64, (64, 5)).astype(np.int8)
    queries[:, 0], queries[:, 1] = 63, -63
    want = (codes.astype(np.int64) - 128) @ queries.astype(np.int64)
    assert np.array_equal(Int8ScoreSession(threads=1).scores(codes, queries), want)


def test_int8_graph_bytes_are_the_onnx_helper_graph():
    """The embedded MatMulInteger graph is what onnx.helper builds (so the SDK needs no `onnx` at run time)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from seje_sdk.index_int8 import _SCORES_ONNX

    codes = helper.make_tensor_value_info("codes", TensorProto.UINT8, ["rows", "dim"])
    queries = helper.make_tensor_value_info("queries", TensorProto.INT8, ["dim", "n_queries"])
    scores = helper.make_tensor_value_info("scores", TensorProto.INT32, ["rows", "n_queries"])
    zero = helper.make_tensor("codes_zero_point", TensorProto.UINT8, [], [128])
    node = helper.make_node("MatMulInteger", ["codes", "queries", "codes_zero_point"], ["scores"])
    graph = helper.make_graph([node], "int8_scores", [codes, queries], [scores], initializer=[zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)], producer_name="seje")
    model.ir_version = 7
    onnx.checker.check_model(model)
    assert model.SerializeToString() == _SCORES_ONNX


@pytest.mark.parametrize("shortlist", [16, 64])
def test_exact_int8_recall_exact_scores_and_persistence(tmp_path, shortlist):
    """int8 first pass + float32 re-rank: recall@10 >= 0.99 vs brute force, scores are exact dot products."""
    base, queries = _clustered(6000, 64, centres=30), _clustered(40, 64, seed=1, centres=30)
    ids = [f"r{i}" for i in range(len(base))]
    idx = new_index("exact-int8", 64, "fp", "recipe", shortlist=shortlist)
    idx.add(base[:2500], ids[:2500])
    idx.add(base[2500:], ids[2500:])
    exact = ExactIndex(64, "fp")
    exact.add(base, ids)
    got, want = idx.search(queries, k=10), exact.search(queries, k=10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.ids.tolist(), want.ids.tolist())])
    assert recall >= 0.99, f"exact-int8 recall@10 {recall:.3f}"
    rows = np.vectorize(lambda i: int(i[1:]))(got.ids)
    np.testing.assert_allclose(got.scores, np.einsum("qkd,qd->qk", base[rows], queries), atol=1e-5)
    idx.save(tmp_path / "i8")
    manifest = json.loads((tmp_path / "i8" / "manifest.json").read_text())
    assert manifest["kind"] == "exact-int8" and manifest["params"] == {"shortlist": shortlist}
    assert {"vectors.npy", "codes.npy", "code_scales.npy", "ids.json"} <= set(manifest["files"])
    loaded = load_index(tmp_path / "i8")
    assert isinstance(loaded._codes, np.memmap) and loaded.search(queries, k=10).ids.tolist() == got.ids.tolist()


def test_exact_int8_folder_without_codes_computes_them(tmp_path):
    """A folder written the exact index's way (vectors.npy + ids.json + manifest) loads as exact-int8."""
    base, queries = _clustered(3000, 32), _clustered(5, 32, seed=2)
    exact = ExactIndex(32, "fp")
    exact.add(base, list(range(3000)))
    exact.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps({**manifest, "kind": "exact-int8"}))
    loaded = load_index(tmp_path / "idx")
    assert loaded.kind == "exact-int8" and loaded._codes.shape == (3000, 32)
    assert loaded.search(queries, k=5).ids.tolist() == exact.search(queries, k=5).ids.tolist()
