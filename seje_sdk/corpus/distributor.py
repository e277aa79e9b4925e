"""What a distributor is, and the one table of distributors by name.

A distributor takes the pending shards of a corpus job, has them embedded (in this process, or
on Ray Data actors) and hands each finished shard to `write`. The click choice of
`seje embed-corpus --distributor`, the check of `CorpusConfig.distributor` and the runner all
read `DISTRIBUTORS`, so adding one touches this table and its own module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from seje_sdk.corpus.encoder import EncoderSpec, ShardResult
from seje_sdk.corpus.ray_distributor import RayDistributor
from seje_sdk.corpus.reader import Item
from seje_sdk.corpus.sequential import SequentialDistributor
from seje_sdk.errors import InputError

if TYPE_CHECKING:
    from seje_sdk.corpus.runner import CorpusConfig


class Distributor(Protocol):
    """Embeds shards somewhere and calls `write` once per finished shard (in any order), `progress.update(n)` per n items."""

    name: str

    @classmethod
    def from_config(cls, config: "CorpusConfig") -> "Distributor":
        """The distributor a corpus job's config asks for."""
        ...

    def run(self, spec: EncoderSpec, shards: Iterable[tuple[int, list[Item]]], write: Callable[[ShardResult], None],
            progress: Any) -> None:
        """Embed every (shard number, items) of `shards` with a Retriever opened from `spec`."""
        ...


DISTRIBUTORS: dict[str, type[Distributor]] = {"sequential": SequentialDistributor, "ray": RayDistributor}


def distributor_class(name: str) -> type[Distributor]:
    """The class registered as `name`, or InputError listing the names."""
    if name not in DISTRIBUTORS:
        raise InputError(f"distributor must be one of {', '.join(DISTRIBUTORS)}, got {name!r}")
    return DISTRIBUTORS[name]
