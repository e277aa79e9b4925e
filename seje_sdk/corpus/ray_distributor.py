"""The Ray distributor: shards embedded by a pool of Ray Data actors, each loading the bundle once.

The driver reads the source and writes the shards; Ray Data carries the items to a fixed-size
actor pool (`map_batches` with a callable class and `compute=ActorPoolStrategy(size=workers)`,
the form Ray 2.x documents; `concurrency=` is deprecated there). Every input block is one shard
and `batch_size=None` hands whole blocks to the actor, so each actor runs `encode_shard` on the
same batches as the sequential distributor and the vectors are equal. Pending shards go to Ray in
waves of about `wave_items` items, which bounds what the driver and the object store hold.
Ray is imported only here, and only when this distributor runs.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from seje_sdk.corpus.encoder import EncoderSpec, ShardResult, encode_shard
from seje_sdk.corpus.reader import Item
from seje_sdk.errors import InputError, SejeError

if TYPE_CHECKING:
    from seje_sdk.corpus.runner import CorpusConfig

ITEM_COLUMNS = ("position", "id", "payload", "label", "bad")


@dataclass(frozen=True)
class RayOptions:
    """Actor pool shape and where Ray runs (`CorpusConfig.ray`; `seje embed-corpus --workers ... --wave-items`)."""

    workers: int = 2  # actors, each with its own Retriever
    threads_per_worker: int = 1  # CPUs reserved per actor = onnxruntime threads in it
    address: str | None = None  # None: start a local Ray; else join this cluster ("auto", "ray://host:10001", ...)
    gpus_per_worker: float | None = None  # None: 1 GPU per actor when the cluster has GPUs (shared if fewer), else 0
    wave_items: int = 200_000  # items handed to Ray at once: bounds what the driver and the object store hold

    def __post_init__(self) -> None:
        if self.workers < 1 or self.threads_per_worker < 1:
            raise InputError(f"--workers and --threads-per-worker must be >= 1, got {self.workers} and {self.threads_per_worker}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise InputError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")
        if self.wave_items < 1:
            raise InputError(f"--wave-items must be >= 1, got {self.wave_items}")


class ShardEncoder:
    """Ray Data callable class: loads the bundle once per actor, embeds the shards of each batch."""

    def __init__(self, spec: EncoderSpec):
        self.spec, self.retriever = spec, spec.load()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        dim = self.retriever.bundle.embedding_dim
        out: dict[str, list] = {k: [] for k in ("shard", "position", "id", "label", "reason")}
        vectors = []
        for number in dict.fromkeys(batch["shard"].tolist()):  # shards in batch order
            rows = np.flatnonzero(batch["shard"] == number)
            items = [Item(*(batch[c][r].item() if c == "position" else str(batch[c][r]) for c in ITEM_COLUMNS)) for r in rows]
            res = encode_shard(self.retriever, self.spec, number, items)
            for i, (rid, pos, label) in enumerate(zip(res.ids, res.positions, res.labels)):
                _append(out, number, pos, rid, label, "")
                vectors.append(res.vectors[i])
            for s in res.skipped:
                _append(out, number, s["position"], s["id"], "", s["reason"])
                vectors.append(np.zeros(dim, np.float32))
        columns = {k: np.asarray(v) for k, v in out.items()}
        columns["vector"] = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
        return columns


def _append(out: dict[str, list], number: int, pos: int, rid: str, label: str, reason: str) -> None:
    for key, value in (("shard", number), ("position", pos), ("id", rid), ("label", label), ("reason", reason)):
        out[key].append(value)


class RayDistributor:
    """Embeds pending shards on Ray Data actors; the driver writes each shard as soon as all its rows are back."""

    name = "ray"

    def __init__(self, options: RayOptions = RayOptions()):
        self.options = options

    @classmethod
    def from_config(cls, config: "CorpusConfig") -> "RayDistributor":
        """The actor pool `config.ray` describes."""
        return cls(config.ray)

    def run(self, spec: EncoderSpec, shards: Iterable[tuple[int, list[Item]]], write: Callable[[ShardResult], None],
            progress: Any) -> None:
        ray = import_ray()
        started = connect(ray, self.options)
        try:
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False  # one bar (ours, in items/s) instead of one per operator
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            gpus = self._gpus_per_worker(ray)
            spec = EncoderSpec(**{**spec.__dict__, "threads": self.options.threads_per_worker})
            for wave in _waves(shards, self.options.wave_items):
                self._run_wave(ray, spec, wave, gpus, write, progress)
        except SejeError:
            raise
        except Exception as e:  # a worker died or Ray could not schedule: say where, keep the cause
            raise RuntimeError(f"ray distributor failed: {type(e).__name__}: {e}") from e
        finally:
            if started:
                ray.shutdown()

    def _run_wave(self, ray, spec: EncoderSpec, wave: list[tuple[int, list[Item]]], gpus: float, write, progress) -> None:
        import pyarrow as pa

        tables = [pa.table({"shard": [n] * len(items), **{c: [getattr(it, c) for it in items] for c in ITEM_COLUMNS}})
                  for n, items in wave]
        sizes = {n: len(items) for n, items in wave}
        ds = ray.data.from_arrow(tables).map_batches(
            ShardEncoder, fn_constructor_args=(spec,), batch_size=None, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(self.options.workers, len(wave))),
            num_cpus=self.options.threads_per_worker, num_gpus=gpus)
        partial: dict[int, list[dict[str, np.ndarray]]] = {}
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for number in dict.fromkeys(batch["shard"].tolist()):
                rows = batch["shard"] == number
                partial.setdefault(number, []).append({k: v[rows] for k, v in batch.items()})
                if sum(len(p["shard"]) for p in partial[number]) == sizes[number]:
                    write(_shard_result(number, partial.pop(number)))
                    progress.update(sizes[number])
        if partial:
            raise RuntimeError(f"ray distributor: shards {sorted(partial)} came back incomplete")

    def _gpus_per_worker(self, ray) -> float:
        if self.options.gpus_per_worker is not None:
            return self.options.gpus_per_worker
        total = float(ray.cluster_resources().get("GPU", 0))
        return 0.0 if total <= 0 else min(1.0, total / self.options.workers)


def _shard_result(number: int, parts: list[dict[str, np.ndarray]]) -> ShardResult:
    """Rows of one shard (possibly from several batches) back into a ShardResult in source order."""
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cols["position"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    ok = cols["reason"] == ""
    skipped = [{"id": str(i), "position": int(p), "reason": str(r)}
               for i, p, r in zip(cols["id"][~ok], cols["position"][~ok], cols["reason"][~ok])]
    return ShardResult(number, [str(i) for i in cols["id"][ok]], [int(p) for p in cols["position"][ok]],
                       [str(x) for x in cols["label"][ok]], np.asarray(cols["vector"][ok], np.float32), skipped)


def _waves(shards: Iterable[tuple[int, list[Item]]], wave_items: int) -> Iterator[list[tuple[int, list[Item]]]]:
    wave: list[tuple[int, list[Item]]] = []
    for shard in shards:
        wave.append(shard)
        if sum(len(items) for _, items in wave) >= wave_items:
            yield wave
            wave = []
    if wave:
        yield wave


def import_ray():
    """The ray module with Ray Data, or InputError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise InputError("the ray distributor needs Ray Data: pip install 'seje[ray]'") from e
    return ray


def connect(ray, options: RayOptions) -> bool:
    """Join a running Ray (this process's, or the cluster at options.address) or start a local one; True if started here."""
    if ray.is_initialized():
        return False
    if options.address:
        ray.init(address=options.address, logging_level=logging.WARNING)
    else:
        cpus = max(os.cpu_count() or 1, options.workers * options.threads_per_worker)
        # Worker logs stay in Ray's session folder: actor errors still reach us as exceptions, and
        # the console is spared worker teardown noise from a Ray that lives for one job.
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    have = float(ray.cluster_resources().get("CPU", 0))
    if have < options.threads_per_worker:
        ray.shutdown()
        raise InputError(f"--threads-per-worker {options.threads_per_worker} is more than the {have:g} CPUs Ray has")
    return True
