"""Speed and memory scripts, run on request (``python -m benchmark.perf.NAME``), not in tests."""
