"""Which index kind to build for n vectors: memory each needs, and the recall and speed measured for it.

Expected recall@10 and queries/s are the ones seje-bench measured on a 2-core machine (1024-d,
top-10, 256-query batches; benchmarks/results/retrieval.md and, for ivf, benchmarks/results/1m-ivf),
taken at the measured scale nearest to n. Memory is computed from n and d. Under --max-memory the
plan takes, among the kinds that fit, the fastest whose expected recall@10 is at least MIN_RECALL;
if none reaches it, the most accurate that fits. Without --kind or --max-memory it takes the kind
RECOMMENDED for n (`recommend_kind`): exact up to a measured size, ivf above it.

Example:
    >>> plan_index(1_000_000, 1024, max_memory=parse_size("2.5G")).kind
    'exact-fp16'
    >>> recommend_kind(3_500)[0], recommend_kind(1_000_000)[0]
    ('exact', 'ivf')
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from seje_sdk.errors import InputError
from seje_sdk.index_faiss import DEFAULTS as FAISS_DEFAULTS

KINDS = ("exact", "exact-fp16", "hnsw", "ivf", "ivfpq")
MIN_RECALL = 0.95  # the recall@10 the ANN target asks for (HNSW M 32 reaches 0.939 at 1M: not enough)
ID_BYTES = 80  # a str id in the Python list the index keeps (object + list slot), measured order of magnitude
# kind -> {scale: (recall@10, queries/s)} from benchmarks/results/retrieval.md (seje-bench retrieval, 2 cores).
MEASURED = {
    "exact": {10_000: (1.000, 2727.7), 100_000: (1.000, 269.8), 1_000_000: (1.000, 25.2)},
    "exact-fp16": {10_000: (1.000, 1877.6), 100_000: (1.000, 207.4), 1_000_000: (0.998, 18.2)},
    "hnsw": {10_000: (1.000, 5570.2), 100_000: (1.000, 6014.0), 1_000_000: (0.939, 2298.8)},
    # ivf at its defaults (nlist 2048, nprobe 8): benchmarks/results/ivf-10k-100k and 1m-ivf (2026-12-06, load 8-11)
    "ivf": {10_000: (1.000, 4923.9), 100_000: (1.000, 2470.1), 1_000_000: (0.999, 863.3)},
    "ivfpq": {10_000: (0.761, 13771.0), 100_000: (0.448, 7875.3), 1_000_000: (0.202, 3064.3)},
}
# Up to this many vectors `exact` is recommended: exact results, 210-270 queries/s at 100,000 on 2 cores, nothing to
# train (ivf's k-means took 130 s there). Above it exact slows in proportion to n (17.6 queries/s at 1,000,000 under
# load 8) while ivf keeps recall@10 0.999 at 49x that (nprobe 8; 79x at nprobe 4, recall 0.997).
EXACT_UP_TO = 100_000
SOURCES = {"exact": "benchmarks/results/retrieval.md", "ivf": "benchmarks/results/1m-ivf/retrieval.md",
           "ivf-small": "benchmarks/results/ivf-10k-100k/retrieval.md"}  # seje-bench retrieval, 2 cores
NOTES = {
    "exact": "memory-mapped float32; exact results",
    "exact-fp16": "memory-mapped float16; half the memory, ~1e-3 score error",
    "hnsw": "FAISS HNSW (M=32): fast, graph held in RAM",
    "ivf": "FAISS IVF, 8-bit scan + float16 re-rank: fastest at 1M, trained on a sample",
    "ivfpq": "FAISS IVF-PQ trained on a sample: smallest, recall drops with size",
}


@dataclass(frozen=True)
class KindEstimate:
    kind: str
    memory_bytes: int
    recall_at_10: float
    queries_per_s: float
    measured_at: int
    note: str


@dataclass(frozen=True)
class IndexPlan:
    kind: str
    reason: str
    estimates: list[KindEstimate]

    def table(self) -> list[tuple]:
        """Rows for printing: kind, memory, expected recall@10, expected queries/s, chosen mark, note."""
        return [(("* " if e.kind == self.kind else "  ") + e.kind, format_size(e.memory_bytes), f"{e.recall_at_10:.3f}",
                 f"{e.queries_per_s:,.0f}", f"{e.measured_at:,}", e.note) for e in self.estimates]


def memory_bytes(kind: str, n: int, dim: int, nlist: int = 1024, m: int = 16, hnsw_m: int = 32) -> int:
    """RAM the index needs to search at full speed: vectors (or codes), graph links, ids."""
    per_vector = {"exact": 4 * dim, "exact-fp16": 2 * dim, "hnsw": 4 * dim + 2 * hnsw_m * 4, "ivf": 3 * dim + 8, "ivfpq": m + 8}[kind]
    if kind == "ivf":  # 8-bit codes + float16 re-rank copy + list ids; coarse centroids + SQ ranges
        nlist = min(FAISS_DEFAULTS["ivf"]["nlist"], max(1, min(n, FAISS_DEFAULTS["ivf"]["train_size"]) // 39))
        return n * (per_vector + ID_BYTES) + 4 * dim * nlist + 8 * dim
    nlist = min(nlist, max(1, n // 39))  # as FaissIndex lowers it for small training sets
    fixed = 4 * dim * nlist + 256 * 4 * dim if kind == "ivfpq" else 0  # coarse centroids + PQ codebooks
    return n * (per_vector + ID_BYTES) + fixed


def estimate(kind: str, n: int, dim: int) -> KindEstimate:
    """Expected memory, recall@10 and queries/s of `kind` at n vectors (recall and speed as measured nearest n)."""
    scale = min(MEASURED[kind], key=lambda s: abs(s - max(n, 1)) / s)
    recall, qps = MEASURED[kind][scale]
    if kind.startswith("exact") and n > scale:  # a scan: time grows with n (and with d, measured at 1024)
        qps = qps * scale / n * 1024 / dim
    return KindEstimate(kind, memory_bytes(kind, n, dim), recall, qps, scale, NOTES[kind])


def plan_index(n: int, dim: int, kind: str | None = None, max_memory: int | None = None) -> IndexPlan:
    """Pick the kind (given, or by max_memory, else exact) and list what every kind would cost at n vectors."""
    estimates = [estimate(k, n, dim) for k in KINDS]
    if kind is not None:
        if kind not in KINDS:
            raise InputError(f"unknown index kind {kind!r}; use {', '.join(KINDS)}")
        return IndexPlan(kind, "asked for with --kind", estimates)
    if max_memory is None:
        chosen, reason = recommend_kind(n)
        return IndexPlan(chosen, reason, estimates)
    fits = [e for e in estimates if e.memory_bytes <= max_memory]
    if not fits:
        smallest = min(estimates, key=lambda e: e.memory_bytes)
        raise InputError(f"--max-memory {format_size(max_memory)}: no index kind fits {n:,} vectors "
                         f"(smallest: {smallest.kind}, {format_size(smallest.memory_bytes)})")
    good = [e for e in fits if e.recall_at_10 >= MIN_RECALL]
    if good:
        best = max(good, key=lambda e: e.queries_per_s)
        return IndexPlan(best.kind, f"fastest kind with expected recall@10 >= {MIN_RECALL} within {format_size(max_memory)}", estimates)
    best = max(fits, key=lambda e: e.recall_at_10)
    return IndexPlan(best.kind, f"no kind with recall@10 >= {MIN_RECALL} fits {format_size(max_memory)}; most accurate that fits", estimates)


def recommend_kind(n: int) -> tuple[str, str]:
    """The kind to build for n vectors when none is asked for, and why (quoting the measurements)."""
    if n <= EXACT_UP_TO:
        exact = estimate("exact", n, 1024)
        return "exact", (f"recommended up to {EXACT_UP_TO:,} vectors: exact results, {exact.queries_per_s:,.0f} queries/s "
                         f"measured at {exact.measured_at:,} on 2 cores ({SOURCES['exact']})")
    try:
        import faiss  # noqa: F401
    except ImportError:
        return "exact", f"ivf is recommended above {EXACT_UP_TO:,} vectors but needs FAISS (pip install 'seje[faiss]'); exact instead"
    ivf = estimate("ivf", n, 1024)
    return "ivf", (f"recommended above {EXACT_UP_TO:,} vectors: recall@10 {ivf.recall_at_10:.3f} at {ivf.queries_per_s:,.0f} queries/s "
                   f"measured at {ivf.measured_at:,} on 2 cores ({SOURCES['ivf' if ivf.measured_at == 1_000_000 else 'ivf-small']})")


def kind_advice(n: int, built: str) -> str:
    """A '; ...' line tail naming the kind recommended for n vectors, and how to rebuild with it when it differs."""
    kind, reason = recommend_kind(n)
    return f"; {kind} {reason}" + ("" if kind == built else f"; rebuild with --kind {kind}")


def parse_size(text: str) -> int:
    """'4G', '512M', '2GiB', '1.5g' or plain bytes -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise InputError(f"--max-memory: cannot read {text!r}; write e.g. 512M, 4G or 2GiB")
    value, unit = float(match.group(1)), match.group(2).lower()
    return int(value * 1024 ** "_kmgt".index(unit)) if unit else int(value)


def format_size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"
