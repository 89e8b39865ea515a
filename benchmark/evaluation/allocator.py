"""Flat working memory for scoring-only processes: glibc's malloc keeps freed blocks.

glibc serves an allocation of at least ``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and
returns it to the system when freed, but it raises that threshold to the size of every such
block it frees (up to 32 MiB). After the first 16 MiB distance block is freed, later blocks and
the ranking's temporaries come from the heap, which fragments and is not given back: the
resident memory then grows with the number of blocks, i.e. with the gallery (measured with
``benchmark.perf.eval_speed``: 109 MB of working memory at Market-1501's gallery, 169 MB at ten
times that; with the threshold pinned, 96 MB at both).

``pin_mmap_threshold`` pins it (which also stops the adjustment). It is called by processes that
only score (``score``, the perf scripts' scoring stages), never by training, where one ``mmap``
per large tensor would cost time. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
THRESHOLD = 1 << 20  # 1 MiB: every distance block and large temporary gets its own mapping


def pin_mmap_threshold(threshold: int = THRESHOLD) -> bool:
    """Pin glibc's mmap threshold; True when it was set (glibc found and it accepted)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to pin
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
