"""TensorRT engines: built and run where a GPU exists (`gpu` marker); the no-GPU behaviour and the API check everywhere.

On a machine without an NVIDIA GPU or TensorRT the gpu tests are skipped with the reason by
tests/conftest.py; the CPU tests check that every TensorRT / cuda-python name the code uses
exists in both TensorRT 10.16 and 11.4 (and cuda-python 12 and 13), that `--engine auto` skips
with the reason recorded and that `--engine tensorrt` fails at once with "no GPU" and exit 2.
"""
from __future__ import annotations

import ast
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from export import tensorrt as trt_export
from export.onnx import IMAGE, RECIPE, TAGGER
from seje_sdk.errors import BackendError

ROOT = Path(__file__).resolve().parents[1]
API_LISTS = ROOT / "tests" / "data" / "gpu_api"
TRT_VERSIONS = ("10.16.1.11", "11.4.0.106")
CUDA_BINDINGS_VERSIONS = ("12.9.4", "13.4.4")
# Variables that hold TensorRT objects in our code, and the class each one is.
TRT_OBJECTS = {"builder": "Builder", "network": "INetworkDefinition", "parser": "OnnxParser", "config": "IBuilderConfig",
               "profile": "IOptimizationProfile", "runtime": "Runtime", "engine": "ICudaEngine", "ctx": "IExecutionContext"}
TRT_FILES = ("export/tensorrt.py", "seje_sdk/backends/tensorrt.py")


# ------------------------------------------------------------------ everywhere
def _chain(node: ast.Attribute) -> list[str] | None:
    """["name", "attr", ...] for a dotted chain rooted at a plain name (None for calls, subscripts, ...)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def used_api_names(root: str, files: list[Path], objects: dict[str, str] | None = None) -> dict[str, str]:
    """{"Class.attr" or "name": "file:line"} for every `root.X[.Y]` in `files` (and `obj.method` for `objects`)."""
    found = {}
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            chain = _chain(node) if isinstance(node, ast.Attribute) else None
            if chain is None:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if chain[0] == root:
                found.setdefault(".".join(chain[1:3]), where)
            elif objects and chain[0] in objects and len(chain) == 2:
                found.setdefault(f"{objects[chain[0]]}.{chain[1]}", where)
    return found


def _api_list(name: str) -> set[str]:
    return set((API_LISTS / f"{name}.txt").read_text().split())


def _python_files() -> list[Path]:
    return sorted(p for folder in ("export", "seje_sdk") for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_every_tensorrt_name_we_use_exists_in_tensorrt_10_and_11(version):
    used = used_api_names("trt", _python_files())
    used.update(used_api_names("", [ROOT / f for f in TRT_FILES], TRT_OBJECTS))
    used.pop("", None)
    assert len(used) > 25, f"the scan found only {sorted(used)}: is it still reading the TensorRT code?"
    missing = {name: where for name, where in used.items() if name not in _api_list(f"tensorrt-{version}")}
    assert not missing, f"not in TensorRT {version}'s Python API: {missing}"


@pytest.mark.parametrize("version", CUDA_BINDINGS_VERSIONS)
def test_every_cuda_runtime_name_we_use_exists_in_cuda_python_12_and_13(version):
    used = used_api_names("cudart", _python_files())
    assert len(used) > 10, sorted(used)
    missing = {name: where for name, where in used.items() if name not in _api_list(f"cuda-bindings-{version}")}
    assert not missing, f"not in cuda-python {version}'s cuda.bindings.runtime: {missing}"


def _signatures(version: str) -> dict[str, list[list[str]]]:
    """{"Class.method": [params of each overload]} from the bindings' docstrings."""
    found: dict[str, list[list[str]]] = {}
    for line in (API_LISTS / f"tensorrt-{version}.signatures.txt").read_text().splitlines():
        name, *params = line.split()
        found.setdefault(name, []).append(params)
    return found


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_tensorrt_methods_we_call_accept_our_arguments_in_10_and_11(version):
    signatures, calls = _signatures(version), 0
    for rel in TRT_FILES:
        tree = ast.parse((ROOT / rel).read_text())
        for node in ast.walk(tree):
            chain = _chain(node.func) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
            if not chain or len(chain) != 2 or chain[0] not in TRT_OBJECTS:
                continue
            method, keywords = f"{TRT_OBJECTS[chain[0]]}.{chain[1]}", [k.arg for k in node.keywords]
            fits = [ps for ps in signatures.get(method, []) if "args" in ps or
                    (set(keywords) <= set(ps) and len(node.args) + len(keywords) <= len(ps))]
            assert fits, f"{rel}:{node.lineno}: {method}({len(node.args)} positional, keywords {keywords}) matches no " \
                         f"TensorRT {version} overload {signatures.get(method)}"
            calls += 1
    assert calls > 20


def test_api_lists_show_what_tensorrt_11_removed():
    # The names that made the old code fail on TensorRT 11: the scan above would flag them.
    old, new = _api_list("tensorrt-10.16.1.11"), _api_list("tensorrt-11.4.0.106")
    for name in ("BuilderFlag.FP16", "NetworkDefinitionCreationFlag.EXPLICIT_BATCH"):
        assert name in old and name not in new
    assert "NetworkDefinitionCreationFlag.STRONGLY_TYPED" in old & new and "BuilderFlag.TF32" in old & new


@pytest.mark.skipif(os.environ.get("SEJE_GPU_API_ONLINE") != "1",
                    reason="set SEJE_GPU_API_ONLINE=1 to re-extract the API lists from the wheels (needs the package index and gcc)")
def test_committed_api_lists_match_the_wheels(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("extract_names", API_LISTS / "extract_names.py")
    extract = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extract)
    for version in TRT_VERSIONS:
        for what, listed in (("names", f"tensorrt-{version}.txt"), ("signatures", f"tensorrt-{version}.signatures.txt")):
            (tmp_path / what / version).mkdir(parents=True)
            got = extract.tensorrt_names(version, tmp_path / what / version, what)
            assert got == (API_LISTS / listed).read_text().splitlines(), listed


def test_profile_shapes_cover_batch_and_sequences_up_to_the_limits():
    limits = dict(image_size=64, max_sentences=20, max_tokens=20, max_ingredient_tokens=32, word_dim=32)
    image = trt_export.profile_shapes(IMAGE, 8, **limits)["pixels"]
    assert image == ((1, 3, 64, 64), (8, 3, 64, 64), (8, 3, 64, 64))
    recipe = trt_export.profile_shapes(RECIPE, 64, **limits)
    assert recipe["sentence_tokens"] == ((1, 1, 1), (16, 20, 20), (64, 20, 20))
    assert recipe["sentence_lengths"][2] == (64, 20) and recipe["term_feature"][2] == (64, 32)
    tagger = trt_export.profile_shapes(TAGGER, 64, **limits)
    assert tagger["tokens"][2] == (64, 32) and tagger["lengths"] == ((1,), (16,), (64,))


def test_engine_names_encode_gpu_architecture_and_tensorrt_version():
    env = trt_export.TrtEnvironment(True, tensorrt="10.3.0", gpu="NVIDIA A10", compute_capability="8.6")
    assert trt_export.engine_filename(IMAGE, "fp16", env) == "engines/image_encoder.fp16.sm86.trt10.3.plan"


def _no_gpu() -> bool:
    return not trt_export.detect().available


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_detect_says_what_is_missing():
    env = trt_export.detect()
    assert not env.available and env.reason
    assert env.reason.startswith("no GPU") or "tensorrt" in env.reason.lower() or "cuda" in env.reason.lower()


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_engine_tensorrt_fails_before_any_work(tmp_path):
    from export.bundle import export_run

    # The probe runs before the run is even opened: an empty folder proves no work was done.
    with pytest.raises(BackendError, match="--engine tensorrt: cannot build engines here: "):
        export_run(tmp_path, tmp_path / "bundle", engine="tensorrt")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_cli_engine_tensorrt_without_gpu_exits_2_saying_no_gpu(tmp_path):
    from click.testing import CliRunner

    from export.cli import main
    from seje_sdk.backends.gpu import driver_cuda_version

    result = CliRunner().invoke(main, [str(tmp_path), "--out", str(tmp_path / "b"), "--engine", "tensorrt"])
    assert result.exit_code == 2, result.output
    assert "cannot build engines here" in result.output and "Traceback" not in result.output
    if driver_cuda_version() is None:  # a CI machine: the reason is the missing GPU itself
        assert "no GPU" in result.output


@pytest.mark.skipif(not _no_gpu(), reason="this machine can build TensorRT engines")
def test_auto_skips_engines_and_records_why(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    skipped = manifest["variants"]["tensorrt"]["skipped"]
    assert skipped.startswith("no GPU") or "tensorrt" in skipped.lower()
    assert manifest["export_env"]["gpu"] is None and manifest["export_env"]["compute_capability"] is None
    assert not list(tiny_bundle.glob("engines/*.plan"))


# ------------------------------------------------------------------ GPU only
@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """A small recipe-style LSTM graph exported with the project's exporter."""
    import torch

    from export.onnx import export_graph
    from trainer.features.tagger import IngredientTagger

    torch.manual_seed(0)
    tagger = IngredientTagger(50, 16, 8).eval()
    out = tmp_path_factory.mktemp("trt") / "tagger.onnx"
    tokens = np.array([[5, 6, 7], [8, 9, 0]], np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_graph(tagger, [tokens, np.array([3, 2], np.int64)], TAGGER, out)
    return tagger, out


def _build_tagger_engine(onnx_path: Path, folder: Path, precision: str) -> tuple[Path, object]:
    from export.fp16 import convert_fp16

    env = trt_export.detect()
    shapes = trt_export.profile_shapes(TAGGER, 8, image_size=32, max_sentences=4, max_tokens=4,
                                       max_ingredient_tokens=12, word_dim=16)
    source = onnx_path if precision == "fp32" else convert_fp16(onnx_path, folder / "tagger.fp16.onnx")
    plan = trt_export.build_engine(source, folder / trt_export.engine_filename(TAGGER, precision, env), shapes,
                                   timing_cache=folder / "timing.cache")
    return plan, env


def _tagger_batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, 5).astype(np.int64)
    tokens = (rng.integers(3, 50, (5, 12)) * (np.arange(12)[None] < lengths[:, None])).astype(np.int64)
    return tokens, lengths


@pytest.mark.gpu("tensorrt", "torch-cuda")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_builds_runs_and_matches_pytorch(small_onnx, tmp_path, precision):
    import torch

    from seje_sdk.backends.tensorrt import TrtSession

    tagger, onnx_path = small_onnx
    plan, env = _build_tagger_engine(onnx_path, tmp_path, precision)
    assert plan.stat().st_size > 0 and (tmp_path / "timing.cache").stat().st_size > 0  # timing cache persisted
    session = TrtSession(str(plan), env.tensorrt, env.compute_capability, max_batch=8, built_cuda=env.cuda)
    tokens, lengths = _tagger_batch()
    got = session.run({"tokens": tokens, "lengths": lengths})["logits"]
    with torch.no_grad():
        ref = tagger(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    mask = np.arange(12)[None] < lengths[:, None]
    tol = 1e-4 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(got[mask], ref[mask], atol=tol)
    session.close()
    with pytest.raises(BackendError, match="closed"):
        session.run({"tokens": tokens, "lengths": lengths})


@pytest.mark.gpu("tensorrt")
def test_concurrent_callers_share_a_context_pool_and_get_their_own_results(small_onnx, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from seje_sdk.backends.tensorrt import TrtSession

    plan, env = _build_tagger_engine(small_onnx[1], tmp_path, "fp32")
    session = TrtSession(str(plan), env.tensorrt, env.compute_capability, max_batch=8, contexts=2, built_cuda=env.cuda)
    batches = [_tagger_batch(seed) for seed in range(12)]
    alone = [session.run({"tokens": t, "lengths": n})["logits"] for t, n in batches]
    with ThreadPoolExecutor(6) as pool:  # more callers than contexts: they queue for a free slot
        together = list(pool.map(lambda b: session.run({"tokens": b[0], "lengths": b[1]})["logits"], batches))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)
    assert session._created == 2
    session.close()


@pytest.mark.gpu("tensorrt")
def test_engine_from_another_gpu_or_version_is_refused_with_the_rebuild_command(small_onnx, tmp_path):
    from seje_sdk.backends.tensorrt import TrtSession

    plan, env = _build_tagger_engine(small_onnx[1], tmp_path, "fp32")
    with pytest.raises(BackendError, match=r"built for GPU compute capability 1\.0.*seje-export .*--engine tensorrt"):
        TrtSession(str(plan), env.tensorrt, "1.0")
    with pytest.raises(BackendError, match=r"engine built with TensorRT 9\.0\.0.*--engine tensorrt"):
        TrtSession(str(plan), "9.0.0", env.compute_capability)


@pytest.mark.gpu("tensorrt")
def test_export_with_engines_verifies_them(tiny_run, tmp_path):
    from export.bundle import export_run

    bundle = export_run(tiny_run, tmp_path / "bundle", fp16=True, engine="tensorrt", max_batch=16,
                        timing_cache=tmp_path / "timing.cache")
    manifest = json.loads((bundle / "manifest.json").read_text())
    engines = manifest["variants"]["tensorrt"]
    assert engines["compute_capability"] and engines["tensorrt_version"] and engines["cuda"]
    assert engines["strongly_typed"] and manifest["export_env"]["cuda_runtime"] == engines["cuda"]
    for precision in ("fp32", "fp16"):
        for role, rel in engines[precision].items():
            assert (bundle / rel).is_file() and rel in manifest["files"]
        assert manifest["parity"]["variants"][f"tensorrt/{precision}"]["passed"]
