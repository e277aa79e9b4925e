"""fp16 graphs keep their L2 normalisation in fp32 (a GPU computes fp16 nodes in fp16, where the
sum of squares of 1024 values of size 20 is already past fp16's 65504)."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from export.fp16 import convert_fp16, normalisation_nodes

DIM = 1024


@pytest.fixture(scope="module")
def normalised_graph(tmp_path_factory):
    """A small fp32 graph ending, as our encoders do, in F.normalize -> `embedding`, with large pre-norm values."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, DIM)
            nn.init.constant_(self.fc.weight, 2.5)  # inputs of ones -> every pre-norm value is 20
            nn.init.zeros_(self.fc.bias)

        def forward(self, x):
            return nn.functional.normalize(torch.relu(self.fc(x)), dim=1)

    path = tmp_path_factory.mktemp("fp16") / "head.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Head().eval(), (torch.ones(2, 8),), str(path), input_names=["x"], output_names=["embedding"],
                          dynamic_axes={"x": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


def _elem_types(model) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    return {v.name: v.type.tensor_type.elem_type for v in (*inferred.graph.value_info, *inferred.graph.input,
                                                           *inferred.graph.output)}


def test_normalisation_is_found_and_stays_fp32(normalised_graph, tmp_path):
    source = onnx.load(str(normalised_graph))
    kept = normalisation_nodes(source)
    ops = {n.op_type for n in source.graph.node if n.name in kept}
    assert {"ReduceL2", "Div"} <= ops and "Gemm" not in ops and "Relu" not in ops  # only the normalisation

    out = convert_fp16(normalised_graph, tmp_path / "head.fp16.onnx")
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    types = _elem_types(model)
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    assert types[gemm.output[0]] == TensorProto.FLOAT16  # the rest of the graph did become fp16
    for node in model.graph.node:
        if node.op_type in ("ReduceL2", "Clip", "Div"):
            float_io = [t for t in (*node.input, *node.output) if t and types.get(t) in (TensorProto.FLOAT, TensorProto.FLOAT16)]
            assert all(types[t] == TensorProto.FLOAT for t in float_io), f"{node.name} ({node.op_type}) is not fp32"
    # No value of the kept part makes an fp32 -> fp16 -> fp32 round trip (it would round or overflow).
    producer = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        if node.op_type == "Cast" and node.attribute[0].i == TensorProto.FLOAT:
            before = producer.get(node.input[0])
            assert not (before is not None and before.op_type == "Cast" and before.attribute[0].i == TensorProto.FLOAT16)


def test_fp16_graph_embeds_like_fp32_with_large_activations(normalised_graph, tmp_path):
    import onnxruntime as ort

    x = np.ones((3, 8), np.float32)
    fp32 = ort.InferenceSession(str(normalised_graph), providers=["CPUExecutionProvider"])
    fp16 = ort.InferenceSession(str(convert_fp16(normalised_graph, tmp_path / "h.fp16.onnx")),
                                providers=["CPUExecutionProvider"])
    (ref,), (got,) = fp32.run(None, {"x": x}), fp16.run(None, {"x": x})
    assert DIM * 20.0**2 > float(np.finfo(np.float16).max)  # the case that overflows an fp16 normalisation
    assert got.dtype == np.float32 and np.all(np.isfinite(got))
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_graph_without_normalisation_converts_unchanged_in_kind(tmp_path):
    from onnx import helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    src = tmp_path / "relu.onnx"
    onnx.save(model, str(src))
    assert normalisation_nodes(model) == []
    out = onnx.load(str(convert_fp16(src, tmp_path / "relu.fp16.onnx")))
    assert [i.type.tensor_type.elem_type for i in out.graph.input] == [TensorProto.FLOAT]
