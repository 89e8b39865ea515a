"""Occluded person re-identification benchmark and ablation suite."""

__version__ = "0.1.0"
