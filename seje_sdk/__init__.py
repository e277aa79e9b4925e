"""seje SDK: fast batched food image <-> recipe embedding and retrieval over an exported bundle.

Needs numpy, Pillow and an inference runtime only; never imports torch, transformers or gensim.
"""
from seje_sdk.errors import BackendError, BundleError, DataError, IndexMismatchError, InputError, SejeError
from seje_sdk.version import __version__

__all__ = ["Retriever", "Bundle", "SearchResult", "EmbedResult", "SejeError", "InputError", "BundleError", "IndexMismatchError", "BackendError", "DataError", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import seje_sdk` stays light (the runtime loads only when asked).
    if name in ("Retriever", "EmbedResult"):
        from seje_sdk import retriever

        return getattr(retriever, name)
    if name == "Bundle":
        from seje_sdk.bundle import Bundle

        return Bundle
    if name == "SearchResult":
        from seje_sdk.index import SearchResult

        return SearchResult
    raise AttributeError(f"module 'seje_sdk' has no attribute {name!r}")
