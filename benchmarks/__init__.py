"""Benchmarks: run with ``make bench`` (``python -m benchmarks [NAME ...]``), never in the tests."""
