"""Benchmarks and quality checks on real data; never part of `make test`."""
