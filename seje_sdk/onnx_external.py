"""The external-data files an ONNX model asks the runtime to read, found without the onnx package.

A tensor stored outside the .onnx file names its file in `external_data` ("location"), relative
to the model's folder; a crafted bundle could point it at any file on the machine. The SDK has
no `onnx` dependency, so this walks the protobuf wire format directly, descending only into the
messages that can hold tensors (graph, nodes, attributes, subgraphs, functions).
"""
from __future__ import annotations

from pathlib import Path

# message -> {field number: message type of that (length-delimited) field}, from onnx.proto
SCHEMA: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
    "entry": {},
}
TENSOR_NAME, ENTRY_KEY, ENTRY_VALUE = 8, 1, 2


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: memoryview):
    """(field number, wire type, value) of each field; length-delimited values as memoryviews."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise WireError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise WireError("truncated field")
        yield number, wire, value


def _walk(buf: memoryview, kind: str, out: list[tuple[str, str]]) -> None:
    children = SCHEMA[kind]
    name, location = "", None
    for number, wire, value in _fields(buf):
        if wire != 2:
            continue
        if kind == "tensor" and number == TENSOR_NAME:
            name = bytes(value).decode("utf-8", "replace")
        elif kind == "tensor" and number == 13:
            entry = {n: bytes(v).decode("utf-8", "replace") for n, w, v in _fields(value) if w == 2}
            if entry.get(ENTRY_KEY) == "location":
                location = entry.get(ENTRY_VALUE, "")
        elif number in children:
            _walk(value, children[number], out)
    if location is not None:
        out.append((name, location))


def external_data_locations(path: str | Path) -> list[tuple[str, str]]:
    """(tensor name, location) of every tensor in the model stored in an external file."""
    out: list[tuple[str, str]] = []
    _walk(memoryview(Path(path).read_bytes()), "model", out)
    return out
