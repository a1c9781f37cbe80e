"""Fakes and tiny models shared by tests and benchmarks (no downloads)."""
