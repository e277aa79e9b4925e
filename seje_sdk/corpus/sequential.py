"""The sequential distributor: one process, one Retriever, shards one after another (the default)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from seje_sdk.corpus.encoder import EncoderSpec, ShardResult, encode_shard
from seje_sdk.corpus.reader import Item

if TYPE_CHECKING:
    from seje_sdk.corpus.runner import CorpusConfig


class SequentialDistributor:
    """Embeds pending shards in this process; `write` is called with each finished shard."""

    name = "sequential"

    @classmethod
    def from_config(cls, config: "CorpusConfig") -> "SequentialDistributor":
        """No options: one process, the config's backend and batch size (they travel in the EncoderSpec)."""
        return cls()

    def run(self, spec: EncoderSpec, shards: Iterable[tuple[int, list[Item]]], write: Callable[[ShardResult], None],
            progress: Any) -> None:
        retriever = spec.load()
        try:
            for number, items in shards:
                write(encode_shard(retriever, spec, number, items))
                progress.update(len(items))
        finally:
            retriever.close()
