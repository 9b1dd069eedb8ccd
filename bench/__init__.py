"""Benchmark harness (`make bench`): extraction, collect and process throughput on the demo newsroom.

One run measures everything side by side and prints ratios, because absolute figures on a shared machine are noise.
"""
