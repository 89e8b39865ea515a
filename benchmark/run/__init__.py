"""Orchestration: one run (data, per-method training and evaluation), a sweep of runs, RunData."""
