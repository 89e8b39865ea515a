"""Flat working memory for scoring-only processes: glibc's malloc keeps freed blocks.

glibc serves an allocation of at least ``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and
returns it to the system when freed, but it raises that threshold to the size of every such
block it frees (up to 32 MiB). After the first 16 MiB distance block is freed, later blocks and
the ranking's temporaries come from the heap, which fragments and is not given back: the
resident memory then grows with the number of blocks, i.e. with the gallery (measured with
``benchmark.perf.eval_speed``: 109 MB of working memory at Market-1501's gallery, 169 MB at ten
times that; with the threshold pinned, 96 MB at both).

``pin_mmap_threshold`` pins it (which also stops the adjustment) at 8 MiB: the distance blocks
(16 MiB) and the ranking's [rows, G] temporaries get their own mapping and are given back, while
the [rows, chunk] temporaries of the products (about 2 MiB) are reused from the heap. A 1 MiB
threshold was as flat (1.03x) but mapped and zero-filled every such temporary again: the whole
``score`` of a Market-1501-sized file took 0.9 s longer (``benchmark.perf.score_process``). It is
called by processes that only score (``score``, the perf scripts' scoring stages), never by
training, where one ``mmap`` per large tensor would cost time. Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
THRESHOLD = 8 << 20  # 8 MiB: distance blocks and ranking temporaries get their own mapping


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
