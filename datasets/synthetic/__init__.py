"""Procedural synthetic data in the real releases' formats (the suite's no-download default)."""

from __future__ import annotations

from reid_datasets.synthetic.config import PROFILES, SETS, SynthConfig, synth_config
from reid_datasets.synthetic.generate import MARKER, generate, is_current

__all__ = ["MARKER", "PROFILES", "SETS", "SynthConfig", "generate", "is_current", "synth_config"]
