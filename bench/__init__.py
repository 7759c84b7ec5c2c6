"""Benchmarks (not tests: they assert no timings). `make bench` runs bench/run.py, which rewrites
BENCHMARKS.md. pytest never collects these modules (no test_ prefix, outside tests/)."""
