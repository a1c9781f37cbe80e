"""Benchmarks run by `cer bench NAME --json`."""
