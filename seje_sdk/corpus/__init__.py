"""Corpus jobs: embed a whole collection into resumable shards, then build indexes from the shards.

reader (source -> items in fixed shards) -> encoder (a Retriever per worker) -> writer (npy +
parquet per shard), driven by a distributor (sequential, or Ray Data); index_from_shards builds
exact or FAISS indexes from the shards without holding every vector in memory.
"""
from seje_sdk.corpus.runner import CorpusConfig, CorpusSummary, embed_corpus

__all__ = ["CorpusConfig", "CorpusSummary", "embed_corpus"]
