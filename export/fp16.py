"""fp16 variants of the fp32 ONNX graphs, for GPU runtimes; inputs, outputs and the L2 normalisation stay fp32.

Uses ONNX Runtime's own converter (`onnxruntime.transformers.float16`, the maintained copy of
onnxconverter-common's), so no extra dependency. The final L2 normalisation (ReduceL2 -> Clip
-> Expand -> Div, as torch exports F.normalize) is kept in fp32 through the converter's
node_block_list: a sum of squares over 1024 fp16 values overflows fp16's 65504 on a GPU,
which computes fp16 nodes in fp16 (ONNX Runtime on CPU casts them to fp32, hiding it).
Its `keep_io_types` casts are appended at the end of the node list, which breaks the
checker's topological-order rule, so we sort.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

NORMALISED_OUTPUT = "embedding"


def normalisation_nodes(model: Any, output: str = NORMALISED_OUTPUT) -> list[str]:
    """Names of the nodes computing the L2 normalisation that produces graph output `output` ([] if none).

    The Div that writes `output`, plus every node between its divisor and the un-normalised
    vector (ReduceL2, Clip, Expand, Shape and their Constant operands); the vector itself is
    the boundary: what computes it stays fp16.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    div = producer.get(output)
    if div is None or div.op_type != "Div":
        return []
    vector = div.input[0]
    found, stack = [div.name], [div.input[1]]
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if name == vector or node is None or node.name in found:
            continue
        found.append(node.name)
        stack.extend(i for i in node.input if i)
    ops = {n.op_type for n in model.graph.node if n.name in found}
    return found if "ReduceL2" in ops else []


def fold_cast_round_trips(model: Any) -> int:
    """Turn fp32 -> fp16 -> fp32 Cast pairs into Identity; return how many were folded.

    The converter casts every output of a kept-fp32 node to fp16 and back to fp32 for a kept-fp32
    consumer; such a round trip would round (or overflow) the very values we keep in fp32.
    """
    import onnx
    from onnx import TensorProto

    inferred = onnx.shape_inference.infer_shapes(model)
    elem = {v.name: v.type.tensor_type.elem_type
            for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    elem.update({t.name: t.data_type for t in model.graph.initializer})

    def cast_to(node: Any) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    producer = {out: node for node in model.graph.node for out in node.output}
    folded = 0
    for node in model.graph.node:
        first = producer.get(node.input[0]) if node.input else None
        if (cast_to(node) == TensorProto.FLOAT and first is not None and cast_to(first) == TensorProto.FLOAT16
                and elem.get(first.input[0]) == TensorProto.FLOAT):
            node.op_type, node.input[0] = "Identity", first.input[0]
            del node.attribute[:]
            folded += 1
    used = {i for node in model.graph.node for i in node.input} | {o.name for o in model.graph.output}
    dead = [n for n in model.graph.node if cast_to(n) == TensorProto.FLOAT16 and n.output[0] not in used]
    for node in dead:
        model.graph.node.remove(node)
    return folded


def convert_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write `dst`: `src` with fp16 weights and math; fp32 inputs/outputs, L2 normalisation and sentence whitening."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    from export.onnx import whitened_path_nodes

    source = onnx.load(str(src))
    keep_fp32 = normalisation_nodes(source)
    if whitened_path_nodes(source.graph):
        # A whitened recipe encoder magnifies fp16 rounding anywhere before its heads (minimum
        # cosine 0.87 converted whole, 0.97 with only the whitened path fp32): only the term and
        # fusion heads run fp16 there.
        keep_fp32 += [n.name for n in source.graph.node if not n.name.startswith(("/term/", "/head/"))]
    model = convert_float_to_float16(source, keep_io_types=True, node_block_list=keep_fp32)
    fold_cast_round_trips(model)
    wrapped = OnnxModel(model)
    wrapped.topological_sort()
    dst = Path(dst)
    onnx.save(wrapped.model, str(dst))
    return dst
