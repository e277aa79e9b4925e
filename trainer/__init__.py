"""Training side of seje: Recipe1M data, SEJE Phase 1 features, Phase 2 joint embedding.

Heavy dependencies (torch, gensim, transformers) live here, never in seje_sdk.
"""
