"""SEJE Phase 1 feature engineering: Word2vec, skip-instructions, key terms, image categories."""
