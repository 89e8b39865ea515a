"""glibc's mmap threshold is pinned for scoring-only processes (flat working memory)."""

from __future__ import annotations

import platform

from benchmark.evaluation.allocator import pin_mmap_threshold


def test_pinning_reports_whether_glibc_took_it() -> None:
    pinned = pin_mmap_threshold()
    assert isinstance(pinned, bool)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert pinned, "glibc accepts M_MMAP_THRESHOLD"
