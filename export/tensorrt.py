"""TensorRT 10 engines from the exported ONNX files (only where an NVIDIA GPU and TensorRT exist).

Every call follows the TensorRT 10 Python API: Builder -> NetworkDefinition filled by
OnnxParser -> BuilderConfig (one optimisation profile over batch and sequence sizes up to
max_batch, FP16 when asked, TF32 cleared for fp32 so "fp32" really is fp32, a timing cache
loaded from and saved to disk) -> build_serialized_network. An engine only runs on the
TensorRT version and GPU architecture that built it, so both are in its file name and in the
manifest, and the SDK refuses a mismatch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.onnx import IMAGE, RECIPE, TAGGER, GraphSpec
from seje_sdk.errors import BackendError

Shape = tuple[int, ...]
WORKSPACE_BYTES = 1 << 30  # 1 GiB: plenty for these graphs; TensorRT uses less when it can


@dataclass(frozen=True)
class TrtEnvironment:
    """What this machine offers for engines: versions and GPU, or why engines cannot be built."""

    available: bool
    reason: str | None = None  # why not, when unavailable
    tensorrt: str | None = None
    gpu: str | None = None
    compute_capability: str | None = None  # "8.6"

    def as_manifest(self) -> dict[str, Any]:
        return {"tensorrt": self.tensorrt, "gpu": self.gpu, "compute_capability": self.compute_capability}


def detect() -> TrtEnvironment:
    """Probe TensorRT and GPU 0 without failing; the reason names the missing piece."""
    from seje_sdk.backends.tensorrt import _check, gpu_compute_capability, import_tensorrt

    try:
        trt, cudart = import_tensorrt()
    except BackendError as e:
        return TrtEnvironment(False, reason=str(e))
    try:
        cc = gpu_compute_capability(cudart)
        name = _check(cudart.cudaGetDeviceProperties(0), "device properties").name
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    except BackendError as e:
        return TrtEnvironment(False, reason=str(e), tensorrt=trt.__version__)
    return TrtEnvironment(True, tensorrt=trt.__version__, gpu=name.strip("\x00 "), compute_capability=cc)


def engine_filename(spec: GraphSpec, precision: str, env: TrtEnvironment) -> str:
    """engines/<stem>.<precision>.sm<cc>.trt<major>.<minor>.plan, e.g. image_encoder.fp16.sm86.trt10.3.plan."""
    major_minor = ".".join(str(env.tensorrt).split(".")[:2])
    return f"engines/{spec.stem}.{precision}.sm{str(env.compute_capability).replace('.', '')}.trt{major_minor}.plan"


def profile_shapes(spec: GraphSpec, max_batch: int, image_size: int, max_sentences: int, max_tokens: int,
                   max_ingredient_tokens: int, word_dim: int = 300) -> dict[str, tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shape of every input: batch 1..max_batch, sequences 1..the text limits."""
    opt_batch = max(1, min(max_batch, 16))
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
                 fp16: bool, timing_cache: str | Path | None = None) -> Path:
    """Parse `onnx_path`, build one engine with one optimisation profile, write `plan_path`."""
    from seje_sdk.backends.tensorrt import import_tensorrt

    trt, _ = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"{Path(onnx_path).name}: TensorRT's ONNX parser failed: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    else:
        config.clear_flag(trt.BuilderFlag.TF32)  # TF32 matmuls would break fp32 parity (10-bit mantissa)
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
                  limits: dict[str, int], timing_cache: str | Path | None = None) -> dict[str, Any]:
    """Build every graph at every precision; return the manifest's variants["tensorrt"] entry."""
    from tqdm import tqdm

    entry: dict[str, Any] = {
        "tensorrt_version": env.tensorrt, "compute_capability": env.compute_capability,
        "gpu": env.gpu, "max_batch": max_batch,
    }
    jobs = [(p, spec) for p in precisions for spec in (IMAGE, RECIPE, TAGGER)]
    for precision, spec in tqdm(jobs, desc="TensorRT engines", unit="engine"):
        rel = engine_filename(spec, precision, env)
        shapes = profile_shapes(spec, max_batch, **limits)
        # fp16 engines are built from the fp32 ONNX: TensorRT picks fp16 kernels itself and
        # keeps the I/O in fp32, which is what callers pass.
        build_engine(bundle_dir / spec.filename("fp32"), bundle_dir / rel, shapes, fp16=precision == "fp16",
                     timing_cache=timing_cache)
        entry.setdefault(precision, {})[spec.role] = rel
    return entry
