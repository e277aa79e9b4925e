"""TensorRT engines (10.8+ and 11, one code path) from the exported ONNX graphs, where a GPU exists.

Every network is strongly typed (required on 10.x, the only mode on 11): the precision comes
from the graph's own types, so fp16 engines are built from the fp16 ONNX graphs (whose L2
normalisation export/fp16.py keeps in fp32) and fp32 engines from the fp32 graphs. TF32 is
cleared in every engine so that fp32 tensors, the normalisation included, really are fp32.
The flow: Builder -> strongly typed network filled by OnnxParser -> BuilderConfig (workspace
limit, one optimisation profile over batch and sequence sizes up to max_batch, a timing cache
loaded from and saved to disk) -> build_serialized_network. Only API names present in both
TensorRT 10.16 and 11.4 are used (tests/test_tensorrt.py checks them against both bindings).
An engine only runs on the TensorRT version, CUDA major and GPU architecture that built it, so
all three are in the manifest and the SDK refuses a mismatch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.onnx import IMAGE, RECIPE, RECIPE_VECTORS, SENTENCE, TAGGER, GraphSpec
from seje_sdk.errors import BackendError

Shape = tuple[int, ...]
WORKSPACE_BYTES = 1 << 30  # 1 GiB: plenty for these graphs; TensorRT uses less when it can


@dataclass(frozen=True)
class TrtEnvironment:
    """What this machine offers for engines: versions and GPU, or why engines cannot be built."""

    available: bool
    reason: str | None = None  # why not, when unavailable; starts with "no GPU" when that is the cause
    tensorrt: str | None = None
    gpu: str | None = None
    compute_capability: str | None = None  # "8.6"
    cuda: str | None = None  # CUDA runtime version of cuda-python, e.g. "12.9"

    def as_manifest(self) -> dict[str, Any]:
        return {"tensorrt": self.tensorrt, "gpu": self.gpu, "compute_capability": self.compute_capability,
                "cuda_runtime": self.cuda}


def detect() -> TrtEnvironment:
    """Probe driver, TensorRT, cuda-python and GPU 0 without failing; the reason names the missing piece."""
    from seje_sdk.backends.gpu import tensorrt_stack

    try:
        trt, _, gpu = tensorrt_stack()
    except BackendError as e:
        return TrtEnvironment(False, reason=str(e))
    return TrtEnvironment(True, tensorrt=trt.__version__, gpu=gpu.name, compute_capability=gpu.compute_capability,
                          cuda=gpu.cuda_runtime)


def engine_filename(spec: GraphSpec, precision: str, env: TrtEnvironment) -> str:
    """engines/<stem>.<precision>.sm<cc>.trt<major>.<minor>.plan, e.g. image_encoder.fp16.sm86.trt10.3.plan."""
    major_minor = ".".join(str(env.tensorrt).split(".")[:2])
    return f"engines/{spec.stem}.{precision}.sm{str(env.compute_capability).replace('.', '')}.trt{major_minor}.plan"


def profile_shapes(spec: GraphSpec, max_batch: int, image_size: int, max_sentences: int, max_tokens: int,
                   max_ingredient_tokens: int, word_dim: int = 300, sentence_dim: int = 384
                   ) -> dict[str, tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shape of every input: batch 1..max_batch, sequences 1..the text limits.

    The sentence graph's batch is texts (the SDK runs length buckets of at most max_batch texts).
    """
    opt_batch = max(1, min(max_batch, 16))
    if spec == SENTENCE:
        t = max_tokens
        return {name: ((1, 1), (opt_batch, min(t, 32)), (max_batch, t)) for name in spec.inputs}
    if spec == RECIPE_VECTORS:
        s, d = max_sentences, sentence_dim
        return {"sentence_vectors": ((1, 1, d), (opt_batch, s, d), (max_batch, s, d)),
                "num_sentences": ((1,), (opt_batch,), (max_batch,)),
                "term_feature": ((1, word_dim), (opt_batch, word_dim), (max_batch, word_dim))}
    if spec == IMAGE:
        return {"pixels": ((1, 3, image_size, image_size), (opt_batch, 3, image_size, image_size),
                           (max_batch, 3, image_size, image_size))}
    if spec == RECIPE:
        s, t = max_sentences, max_tokens
        return {
            "sentence_tokens": ((1, 1, 1), (opt_batch, s, t), (max_batch, s, t)),
            "sentence_lengths": ((1, 1), (opt_batch, s), (max_batch, s)),
            "term_feature": ((1, word_dim), (opt_batch, word_dim), (max_batch, word_dim)),
        }
    if spec == TAGGER:
        t = max_ingredient_tokens
        return {"tokens": ((1, 1), (opt_batch, t), (max_batch, t)), "lengths": ((1,), (opt_batch,), (max_batch,))}
    raise ValueError(f"no TensorRT profile for graph {spec.stem}")


def build_engine(onnx_path: str | Path, plan_path: str | Path, shapes: dict[str, tuple[Shape, Shape, Shape]],
                 timing_cache: str | Path | None = None) -> Path:
    """Parse `onnx_path` into a strongly typed network, build one engine with one profile, write `plan_path`.

    The engine's precision is the graph's: pass the fp16 ONNX file for an fp16 engine.
    """
    from seje_sdk.backends.gpu import import_tensorrt

    trt, _ = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # STRONGLY_TYPED: opt-in on 10.x, accepted and always on in 11 (where weak typing is gone).
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"{Path(onnx_path).name}: TensorRT's ONNX parser failed: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    # TF32 is on by default for fp32 tensors: its 10-bit mantissa would break fp32 parity and the
    # fp32 normalisation inside fp16 graphs. There is no FP16 flag to set: on a strongly typed
    # network the fp16 graph's types choose fp16 kernels (the flag is gone in TensorRT 11).
    config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)

    cache_path = Path(timing_cache) if timing_cache else None
    if cache_path is not None:
        previous = cache_path.read_bytes() if cache_path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(previous), ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"{Path(onnx_path).name}: TensorRT returned no engine (see the builder log above)")
    plan_path = Path(plan_path)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_bytes(bytes(serialized))
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return plan_path


def build_engines(bundle_dir: Path, precisions: list[str], env: TrtEnvironment, max_batch: int,
                  limits: dict[str, int], timing_cache: str | Path | None = None, split: bool = False) -> dict[str, Any]:
    """Build every graph at every precision; return the manifest's variants["tensorrt"] entry.

    `split`: a MiniLM bundle with its own sentence graph (export.sentence_graph)."""
    from export.sentence_graph import graph_specs

    from seje_sdk.progress import progress_bar

    entry: dict[str, Any] = {
        "tensorrt_version": env.tensorrt, "compute_capability": env.compute_capability,
        "cuda": env.cuda, "gpu": env.gpu, "max_batch": max_batch, "strongly_typed": True,
    }
    jobs = [(p, spec) for p in precisions for spec in graph_specs(split)]
    for precision, spec in progress_bar(jobs, desc="TensorRT engines", unit="engine"):
        rel = engine_filename(spec, precision, env)
        shapes = profile_shapes(spec, max_batch, **limits)
        # Strongly typed: the engine takes the precision of the graph it is built from. The fp16
        # graphs keep fp32 inputs/outputs (and an fp32 normalisation), which is what callers pass.
        # MiniLM's sentence graph is fp32 in every variant (export.bundle): its engines are built from that file.
        source = spec.filename("fp32" if spec == SENTENCE else precision)
        build_engine(bundle_dir / source, bundle_dir / rel, shapes, timing_cache=timing_cache)
        entry.setdefault(precision, {})[spec.role] = rel
    return entry
