"""Timbrel benchmarks: `python -m benchmarks [NAME ...]` (see benchmarks/__main__.py)."""
