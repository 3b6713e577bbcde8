"""Trace replay through the same scheduling core (no second scheduler for benchmarks)."""
