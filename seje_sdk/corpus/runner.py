"""`embed_corpus`: source -> shards of embeddings, resumable, on the sequential or the Ray distributor.

Example:
    >>> summary = embed_corpus("bundle/", "runs/demo/data", "corpus/", CorpusConfig(distributor="ray"))   # doctest: +SKIP
    >>> summary.embedded, summary.skipped, round(summary.items_per_s)                                   # doctest: +SKIP
    (2000, 0, 180)
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from seje_sdk.corpus.distributor import distributor_class
from seje_sdk.corpus.encoder import EncoderSpec, ShardResult
from seje_sdk.corpus.ray_distributor import RayOptions
from seje_sdk.corpus.reader import Item, Source, iter_shards, open_source
from seje_sdk.corpus.shards import DTYPES, ShardSet
from seje_sdk.corpus.writer import ShardWriter, finish_manifest, open_manifest, summarise_reports
from seje_sdk.errors import InputError


@dataclass(frozen=True)
class CorpusConfig:
    """How to embed a corpus; the defaults embed on one process in float32 shards of 10,000 items."""

    distributor: str = "sequential"  # a name in seje_sdk.corpus.distributor.DISTRIBUTORS
    shard_size: int = 10_000
    dtype: str = "float32"
    modality: str | None = None  # None: what the source holds (recipes, or images for an image folder/list)
    skip_bad: bool = False  # False: stop at the first shard with a bad item (it is not written)
    batch_size: int = 64
    backend: str = "auto"
    precision: str = "fp32"
    ray: RayOptions = RayOptions()  # the ray distributor's actor pool
    show_progress: bool = True

    def __post_init__(self) -> None:
        distributor_class(self.distributor)
        if self.shard_size < 1 or self.batch_size < 1:
            raise InputError(f"shard size and batch size must be >= 1, got {self.shard_size} and {self.batch_size}")
        if self.dtype not in DTYPES:
            raise InputError(f"shard dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")


@dataclass(frozen=True)
class CorpusSummary:
    """What a run did: shards written now, shards found complete, totals over the whole folder, speed."""

    out: str
    written: int
    resumed: int
    shards: int
    embedded: int
    skipped: int
    seconds: float
    items_per_s: float


def embed_corpus(bundle: str | Path, source: str | Path, out: str | Path, config: CorpusConfig = CorpusConfig()) -> CorpusSummary:
    """Embed every item of `source` into shards under `out`; shards already complete there are kept, not redone."""
    from seje_sdk.bundle import Bundle

    src = open_source(source, config.modality)
    b = Bundle.load(bundle)
    root = Path(out)
    manifest = open_manifest(root, {"fingerprint": b.fingerprint, "bundle": str(Path(bundle).resolve()), "source": src.describe(),
                                    "shard_size": config.shard_size, "dtype": config.dtype, "embedding_dim": b.embedding_dim})
    writer = ShardWriter(root, config.dtype, src.modality)
    writer.remove_temporaries()
    spec = EncoderSpec(str(bundle), src.modality, config.backend, config.precision, 0, config.batch_size)
    done = [n for n in range(_shard_count(src, config.shard_size) or 0) if writer.is_complete(n)]
    written: list[int] = []

    def write(result: ShardResult) -> None:
        if result.skipped and not config.skip_bad:
            first = result.skipped[0]
            raise InputError(f"{src.path}: item {first['id']!r} (position {first['position']}): {first['reason']}; "
                             f"{len(result.skipped)} bad item(s) in shard {result.number}; rerun with --skip-bad to skip "
                             "and list them in the shard's report")
        writer.write(result)
        written.append(result.number)

    from seje_sdk.progress import progress_bar

    start = time.perf_counter()
    pending_total = _pending_items(src, config.shard_size, done)
    with progress_bar(total=pending_total, unit=" items", desc=f"embed {src.modality}s ({config.distributor})",
              disable=not config.show_progress, smoothing=0.1) as bar:
        distributor_class(config.distributor).from_config(config).run(spec, _pending(src, config.shard_size, writer), write, bar)
    seconds = time.perf_counter() - start
    numbers = ShardSet(root, manifest).numbers()
    totals = summarise_reports(root, numbers)
    finish_manifest(root, {**manifest, "last_run": asdict(config)}, totals)
    fresh = summarise_reports(root, written)
    fresh_items = fresh["embedded"] + fresh["skipped"]
    return CorpusSummary(str(root), len(written), len(numbers) - len(written), totals["shards"], totals["embedded"],
                         totals["skipped"], seconds, fresh_items / seconds if seconds > 0 else 0.0)


def _pending(src: Source, shard_size: int, writer: ShardWriter) -> Iterator[tuple[int, list[Item]]]:
    """Shards not yet complete on disk (the source is still read through to reach later shards)."""
    return ((n, items) for n, items in iter_shards(src, shard_size) if not writer.is_complete(n))


def _shard_count(src: Source, shard_size: int) -> int | None:
    return None if src.count is None else math.ceil(src.count / shard_size)


def _pending_items(src: Source, shard_size: int, done: list[int]) -> int | None:
    """Items still to embed, for the progress bar's time left (None when the source size is unknown)."""
    if src.count is None:
        return None
    last = _shard_count(src, shard_size) - 1
    return src.count - sum(src.count - last * shard_size if n == last else shard_size for n in done)
