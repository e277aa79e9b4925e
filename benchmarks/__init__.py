"""Latency and retrieval benchmarks that produce readable reports (JSON, Markdown, PNG)."""
