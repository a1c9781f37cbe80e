"""The session layer: the Qt-free composition the window, `cer annotate` and the benchmarks
drive (live.py, offline.py), and its typed events (events.py). The public API of the core for
the GUI: `gui` imports nothing below this package (docs/architecture.md)."""
