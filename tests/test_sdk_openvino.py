"""OpenVINO backend: the bundle's own ONNX files (fp32, fp16, int8) give ONNX Runtime's embeddings and rankings."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("openvino")

from seje_sdk import Retriever  # noqa: E402
from seje_sdk.backends.onnxruntime import OrtSession  # noqa: E402
from seje_sdk.backends.openvino import OvSession  # noqa: E402


@pytest.fixture(scope="module")
def inputs(tiny_bundle, tiny_data):
    from trainer.data.recipe1m import read_split

    records = read_split(tiny_data, "test")
    paths = [rec.image_paths[0] for rec in records]
    layer1 = [{"id": rec.id, "title": rec.title, "ingredients": [{"text": t} for t in rec.ingredients],
               "instructions": [{"text": t} for t in rec.instructions]} for rec in records]
    return paths, layer1


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("precision, bound", [("fp32", 0.9999), ("int8", 0.98)])
def test_openvino_embeds_like_onnxruntime(tiny_bundle, inputs, precision, bound):
    paths, layer1 = inputs
    ov = Retriever.load(tiny_bundle, backend="openvino", precision=precision)
    ort = Retriever.load(tiny_bundle, backend="onnxruntime", precision=precision)
    assert ov.backend == "openvino" and ov.sessions["image"].providers[0].startswith("OpenVINO")
    img = _cosines(ov.embed_images(paths, batch_size=5), ort.embed_images(paths, batch_size=5))
    rec = _cosines(ov.embed_recipes(layer1, batch_size=5), ort.embed_recipes(layer1, batch_size=5))
    stat = np.min if precision == "fp32" else np.mean  # int8 kernels differ per runtime; the mean stays close
    assert stat(img) >= bound and stat(rec) >= bound, (img.min(), rec.min())
    if precision == "fp32":  # the same ranking: every image's top recipe agrees
        ov.add_recipes(layer1)
        ort.add_recipes(layer1)
        assert ov.search(images=paths, k=3).ids[:, 0].tolist() == ort.search(images=paths, k=3).ids[:, 0].tolist()


def test_openvino_fp16_graph_matches_onnxruntime(tiny_bundle, tmp_path):
    from export.fp16 import convert_fp16

    fp16 = convert_fp16(tiny_bundle / "image_encoder.onnx", tmp_path / "image_encoder.fp16.onnx")
    pixels = np.random.default_rng(0).uniform(0, 255, (6, 3, 64, 64)).astype(np.float32)
    ov, ort = OvSession(fp16), OrtSession(fp16)
    assert ov.input_names == ort.input_names and set(ort.output_names) <= set(ov.output_names)
    got, want = ov.run({"pixels": pixels})["embedding"], ort.run({"pixels": pixels})["embedding"]
    assert _cosines(got, want).min() >= 0.999


def test_openvino_session_is_thread_safe(tiny_bundle):
    session = OvSession(tiny_bundle / "image_encoder.onnx")
    rng = np.random.default_rng(1)
    batches = [rng.uniform(0, 255, (n, 3, 64, 64)).astype(np.float32) for n in (1, 3, 2, 5, 4, 1, 2, 3)]
    alone = [session.run({"pixels": b})["embedding"] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda b: session.run({"pixels": b})["embedding"], batches))
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_openvino_names_a_broken_file(tmp_path):
    from seje_sdk.errors import BundleError

    broken = tmp_path / "image_encoder.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(BundleError, match="image_encoder.onnx: OpenVINO cannot compile this model"):
        OvSession(broken)
