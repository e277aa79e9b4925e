"""The sequential distributor: one process, one Retriever, shards one after another (the default)."""
from __future__ import annotations

from typing import Callable, Iterable

from seje_sdk.corpus.encoder import EncoderSpec, ShardResult, encode_shard
from seje_sdk.corpus.reader import Item


class SequentialDistributor:
    """Embeds pending shards in this process; `write` is called with each finished shard."""

    name = "sequential"

    def run(self, spec: EncoderSpec, shards: Iterable[tuple[int, list[Item]]], write: Callable[[ShardResult], None],
            progress) -> None:
        retriever = spec.load()
        try:
            for number, items in shards:
                write(encode_shard(retriever, spec, number, items))
                progress.update(len(items))
        finally:
            retriever.close()
