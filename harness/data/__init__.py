"""Data: file readers, task loading and fingerprints, encoding (fixed subsets, tokenization cache)."""
