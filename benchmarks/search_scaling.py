"""Search scaling: top-k latency, QPS, recall@k vs exact, memory, build time and peak RSS per index kind and size.

Vectors are synthetic but shaped like trained embeddings: clusters around anchor embeddings
(real bundle embeddings when given) with low-dimensional within-cluster variation plus a little
isotropic noise. Uniform random vectors are HNSW's worst case and say nothing about real use.
Vectors are written chunk by chunk to a memory-mapped .npy, as a large SDK index is stored.
"""
from __future__ import annotations

import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.environment import load_fields, load_snapshot, resolve_threads
from benchmarks.harness import RssSampler, best_of
from benchmarks.memory import rss_reader
from seje_sdk.index import ExactIndex
from seje_sdk.index_faiss import DEFAULTS as FAISS_DEFAULTS
from seje_sdk.indexes import new_index
from seje_sdk.index_int8 import Int8ExactIndex
from seje_sdk.progress import progress_bar

CHUNK = 50_000
METHODS = ("numpy-fp32", "sdk-exact-fp32", "sdk-exact-fp16", "sdk-exact-int8", "faiss-flat-ip", "sdk-hnsw", "sdk-ivf", "sdk-ivfpq")
EXACT_KINDS = ("sdk-exact-fp32", "sdk-exact-fp16", "sdk-exact-int8")  # the SDK kinds called "exact": recall@10 >= 0.99


@dataclass(frozen=True)
class ScalingConfig:
    """Sizes, dimension, timing and thread count of the search-scaling benchmark."""

    scales: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    dim: int = 1024
    k: int = 10
    queries: int = 256  # batch of queries for QPS
    single_queries: int = 30  # one-at-a-time queries for latency
    repeats: int = 3
    methods: tuple[str, ...] = METHODS
    intrinsic_dim: int = 32
    seed: int = 0
    threads: int = 0  # numpy/BLAS, FAISS and ONNX Runtime alike; 0 = all CPUs
    # Search-time settings measured on one build each (a build is the slow part).
    hnsw_ef_search: tuple[int, ...] = (64, 128, 256, 512)
    ivfpq_nprobe: tuple[int, ...] = (16, 64)
    ivf_nprobe: tuple[int, ...] = (4, 8, 16, 32, 64)


class ClusteredVectors:
    """Unit vectors = anchor + variation in a low-dimensional subspace of the anchor's own + small noise.

    Each anchor gets its own subspace (a shared orthonormal basis with per-anchor random sign flips), so
    clusters differ in shape; `spread` is the norm of the variation (0.5: cosine ~0.9 to the anchor).
    """

    def __init__(self, dim: int, anchors: np.ndarray | None, intrinsic_dim: int = 32, seed: int = 0,
                 spread: float = 0.5, noise: float = 0.05):
        rng = np.random.default_rng(seed)
        if anchors is None or len(anchors) == 0:
            anchors = rng.standard_normal((1000, dim)).astype(np.float32)
        if anchors.shape[1] != dim:
            raise ValueError(f"anchor embeddings are {anchors.shape[1]}-d, the benchmark is {dim}-d")
        self.anchors = (anchors / np.linalg.norm(anchors, axis=1, keepdims=True)).astype(np.float32)
        r = min(intrinsic_dim, dim)
        self.basis = np.linalg.qr(rng.standard_normal((dim, r)))[0].T.astype(np.float32)  # (r, dim) orthonormal
        spectrum = 1.0 / np.sqrt(np.arange(1, r + 1))  # decaying, as in trained embeddings
        self.scales = (spread * spectrum / np.linalg.norm(spectrum)).astype(np.float32)
        self.signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(len(self.anchors), dim))
        self.noise = noise / np.sqrt(dim)

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        which = rng.integers(0, len(self.anchors), n)
        variation = (rng.standard_normal((n, len(self.scales))).astype(np.float32) * self.scales) @ self.basis
        x = self.anchors[which] + variation * self.signs[which]
        x += rng.standard_normal(x.shape).astype(np.float32) * self.noise
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_vectors(path: Path, gen: ClusteredVectors, n: int, dtype: str, seed: int) -> np.ndarray:
    """Write n vectors to a .npy chunk by chunk and return it memory-mapped (read-only)."""
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, gen.anchors.shape[1]))
    for i, start in enumerate(range(0, n, CHUNK)):
        arr[start : start + CHUNK] = gen.sample(min(CHUNK, n - start), seed + 1000 + i)
    arr.flush()
    del arr
    return np.load(path, mmap_mode="r")


def numpy_topk(queries: np.ndarray, matrix: np.ndarray, k: int) -> np.ndarray:
    """The plain numpy reference: one matmul, argpartition, sort (what the issue's 374 QPS measured)."""
    scores = queries @ np.asarray(matrix).T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1)
    return np.take_along_axis(part, order, 1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k rows found, per query."""
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits) / truth.shape[1])


@dataclass
class Built:
    """One method ready to search: search(queries, k) -> rows, its memory, and how to change its search setting."""

    search: Callable[[np.ndarray, int], np.ndarray]
    ram_bytes: int  # what must stay resident for full speed
    disk_bytes: int  # what is stored (memory-mapped files included)
    note: str
    tune: Callable[[int], None] | None = None  # sets the swept search parameter
    sweep: tuple[str, tuple[int, ...]] | None = None


def _sdk_exact(base: np.ndarray, folder: Path, dim: int, dtype: str, threads: int) -> Built:
    """An SDK exact index over `base`, memory-mapped from a folder in the SDK's own format."""
    n = len(base)
    vec_dir = folder / dtype
    vec_dir.mkdir(exist_ok=True)
    if dtype == "float16":
        out = np.lib.format.open_memmap(vec_dir / "vectors.npy", mode="w+", dtype=np.float16, shape=base.shape)
        for s in range(0, n, CHUNK):
            out[s : s + CHUNK] = base[s : s + CHUNK]
        out.flush()
        del out
    else:
        (vec_dir / "vectors.npy").symlink_to(folder / "base.npy")
    (vec_dir / "ids.json").write_text("[" + ",".join(map(str, range(n))) + "]")
    manifest = {"embedding_dim": dim, "fingerprint": "bench", "dtype": "float16" if dtype == "float16" else "float32"}
    if dtype == "int8":
        index = Int8ExactIndex.load(vec_dir, manifest, mmap=True, threads=threads)  # computes the codes: the build
        ram, disk = index._codes.nbytes + index._scales.nbytes, base.nbytes + index._codes.nbytes + index._scales.nbytes
        note = f"SDK exact-int8: int8 first pass (ONNX Runtime), float32 re-rank of max({index.params['shortlist']}, 4k) rows/query"
    else:
        index = ExactIndex.load(vec_dir, manifest, mmap=True)
        ram = disk = n * dim * np.dtype(dtype).itemsize
        note = f"SDK ExactIndex {dtype}, memory-mapped"
    # ids are 0..n-1, so the returned ids are the rows
    return Built(lambda q, k: index.search(q, k).ids.astype(np.int64), ram, disk, note)


def _build(method: str, base: np.ndarray, folder: Path, dim: int, cfg: ScalingConfig, threads: int) -> Built:
    """`method` over `base` (memory-mapped fp32), ready to search."""
    n = len(base)
    if method == "numpy-fp32":
        matrix = np.asarray(base)  # the memory-mapped file, warm in the page cache after the first query
        return Built(lambda q, k: numpy_topk(q, matrix, k), matrix.nbytes, matrix.nbytes, "one matmul + argpartition (the plain baseline)")
    if method.startswith("sdk-exact-"):
        return _sdk_exact(base, folder, dim, {"fp32": "float32", "fp16": "float16", "int8": "int8"}[method.rsplit("-", 1)[1]], threads)
    import faiss

    if method == "faiss-flat-ip":
        index = faiss.IndexFlatIP(dim)
        for s in range(0, n, CHUNK):
            index.add(np.ascontiguousarray(base[s : s + CHUNK]))
        return Built(lambda q, k: index.search(q, k)[1], n * dim * 4, 0, "faiss IndexFlatIP (BLAS for batches)")
    kind = method.removeprefix("sdk-")
    params = {"hnsw": {}, "ivfpq": {"nlist": int(min(1024, max(1, n // 39)))},
              "ivf": {"nlist": int(min(FAISS_DEFAULTS["ivf"]["nlist"], max(1, min(n, FAISS_DEFAULTS["ivf"]["train_size"]) // 39)))}}[kind]
    sdk = new_index(kind, dim, "bench", "recipe", **params)
    first = min(n, FAISS_DEFAULTS["ivf"]["train_size"]) if kind == "ivf" else 0  # ivf trains on its first add: the sample
    if first:
        sdk.add(np.asarray(base[:first]), list(range(first)))
    for s in range(first, n, CHUNK):
        sdk.add(np.asarray(base[s : s + CHUNK]), list(range(s, min(n, s + CHUNK))))
    path = folder / f"{kind}.faiss"
    # The serialised size is the memory the index holds; write_index streams to disk, whereas
    # FaissIndex.save would first serialise a second in-memory copy (4+ GiB at 1M vectors).
    faiss.write_index(sdk._index, str(path))
    size = path.stat().st_size
    path.unlink()
    name, values = {"hnsw": ("ef_search", cfg.hnsw_ef_search), "ivf": ("nprobe", cfg.ivf_nprobe), "ivfpq": ("nprobe", cfg.ivfpq_nprobe)}[kind]
    fixed = {k: v for k, v in sdk.params.items() if k != name}
    return Built(lambda q, k: np.asarray(sdk.search(q, k).ids, dtype=np.int64), size, 0, f"SDK FaissIndex {fixed}",
                 tune=lambda v: sdk.params.__setitem__(name, v), sweep=(name, values))


def _measure(built: Built, queries: np.ndarray, truth: np.ndarray, k: int, cfg: ScalingConfig) -> dict[str, Any]:
    built.search(queries[:1], k)  # warm-up (page in a memory-mapped matrix)
    batch_s, found = best_of(lambda: built.search(queries, k), cfg.repeats)
    single = [best_of(lambda q=q: built.search(q[None], k), 1)[0] for q in queries[: cfg.single_queries]]
    return {"qps": round(len(queries) / batch_s, 1), "single_query_p50_ms": round(float(np.median(single)) * 1e3, 3),
            "recall_at_k": round(recall_at_k(found, truth), 4)}


def measure_scale(n: int, gen: ClusteredVectors, cfg: ScalingConfig, threads: int, progress: bool = True) -> list[dict]:
    """All methods at one index size: build time, peak RSS, memory per million vectors, QPS, p50 single-query
    latency, recall@k, and the load before/after each method."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="seje-search-") as tmp, RssSampler() as sampler:
        folder = Path(tmp)
        base = write_vectors(folder / "base.npy", gen, n, "float32", cfg.seed)
        queries = gen.sample(cfg.queries, cfg.seed + 7)
        k = min(cfg.k, n)
        truth = numpy_topk(queries, base, k)
        for method in progress_bar(cfg.methods, desc=f"search {n:,} vectors", disable=not progress, leave=False):
            before, rss_before = load_snapshot(), rss_reader()()
            sampler.peaks.clear()
            sampler.active = method
            try:
                t0 = time.perf_counter()
                built = _build(method, base, folder, gen.anchors.shape[1], cfg, threads)
                build_s = time.perf_counter() - t0
                common = {"n": n, "method": method, "status": "ok", "note": built.note, "build_s": round(build_s, 3),
                          "ram_gib_per_million": round(built.ram_bytes / 2**30 * 1e6 / n, 3),
                          "disk_gib_per_million": round(built.disk_bytes / 2**30 * 1e6 / n, 3)}
                name, values = built.sweep or (None, (None,))
                measured = []
                for value in values:
                    if value is not None:
                        built.tune(value)
                    measured.append({**common, "setting": f"{name}={value}" if name else "", **_measure(built, queries, truth, k, cfg)})
                sampler.sample()
                peak = sampler.peaks[method]
                after = load_snapshot()
                for row in measured:
                    row.update(peak_rss_mib=round(peak / 2**20), rss_growth_mib=round(max(0, peak - rss_before) / 2**20),
                               **load_fields(before, after))
                rows += measured
            except Exception as e:  # one index kind failing (memory, faiss missing) is a finding, not a crash
                rows.append({"n": n, "method": method, "status": "failed", "reason": f"{type(e).__name__}: {e}",
                             **load_fields(before, load_snapshot())})
            sampler.active = None
            built = None
            gc.collect()
        del base
    base_qps = {r["n"]: r["qps"] for r in rows if r["method"] == "numpy-fp32" and r["status"] == "ok"}
    for r in rows:
        r["qps_vs_numpy"] = round(r["qps"] / base_qps[n], 2) if r["status"] == "ok" and n in base_qps else None
    return rows


def apply_threads(threads: int) -> tuple[int, dict[str, Any]]:
    """Give numpy's BLAS, FAISS (OpenMP) and ONNX Runtime the same thread count; returns it and what was set."""
    n = resolve_threads(threads)
    set_: dict[str, Any] = {"threads": n}
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)  # every BLAS and OpenMP pool loaded so far (numpy's, faiss's)
        set_["blas_openmp"] = "threadpoolctl"
    except ImportError:
        set_["blas_openmp"] = "not enforced (threadpoolctl missing): BLAS uses its own default"
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass
    return n, set_


def run_search_scaling(cfg: ScalingConfig = ScalingConfig(), anchors: np.ndarray | None = None, progress: bool = True) -> dict[str, Any]:
    """Search-scaling rows for every size in cfg.scales (k, dimension, threads and data recipe recorded)."""
    threads, thread_note = apply_threads(cfg.threads)
    gen = ClusteredVectors(cfg.dim, anchors, cfg.intrinsic_dim, cfg.seed)
    rows = [row for n in cfg.scales for row in measure_scale(n, gen, cfg, threads, progress)]
    return {
        "k": cfg.k, "dim": cfg.dim, "queries": cfg.queries, "threads": thread_note, "rows": rows,
        "vectors": f"clustered around {len(gen.anchors)} anchor embeddings "
                   f"({'real bundle embeddings' if anchors is not None else 'random anchors'}), "
                   f"{cfg.intrinsic_dim}-d within-cluster variation of norm 0.5 plus noise, unit norm",
    }
