"""Bounds on what native libraries keep resident, so that converting long audio takes flat memory.

oneDNN (torch's CPU convolutions) keeps every primitive it built, up to 1024 by default, each with
buffers sized by its input, and ideep (torch's wrapper around it) keeps its own least-recently-used
cache of up to 1024 computations on top. A conversion's chunks, slices and tiles all differ in
length, so each adds primitives that are never used again: RVC conversion of 10 minutes with a
tiny model reached 5.2 GB resident against 1.05 GB for 1 minute. With oneDNN's cache at 64 it
still holds every primitive of a decoder tile loop (about 40), and RVC stayed at one chunk's worth
(0.73 GB over five chunks) with no measurable change in time. ideep's cache kept growing RIFT's
heap with every slice (full size, 2 minutes, one thread: 400 MB resident heap by the 20th slice
against 250 MB with 16 entries, at the same speed: its misses are served by oneDNN's cache).

glibc's malloc raises its mmap threshold to the size of each mapped block that is freed (up to
32 MiB), after which a conversion's tensors of 1 to 32 MiB (decoder tiles, attention blocks) come
from its heaps, and the heaps keep what was freed: a full-size RVC conversion held 370 to 620 MB
of freed heap after its first chunk (glibc's own count), resident for the rest of the run. With
the threshold fixed, larger tensors are mapped and unmapped whole. The threshold trades memory
for page faults: for the same 1-minute conversion, 1 MiB peaked at 1.24 GB but made a 10 s vocoder
pass 35% slower (5.97 s against 4.43 s, quiet 2-core Zen 4); 4 MiB 1.28 GB; 8 MiB 1.39 GB with
13 s of system time against 26 s at 4 MiB; glibc's dynamic threshold 1.63 GB. Even 8 MiB costs
short inputs about 5-10% (the 10 s vocoder pass: 4.65 s), so the threshold is fixed only once an
input of ``LONG_INPUT_SECONDS`` or more is converted. What the heap still frees below the
threshold stays resident until it is trimmed, so long conversions trim it after each RVC chunk
and before each stage of a RIFT batch (malloc_trim: a pass over the free lists, milliseconds
against seconds of work).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

# (environment variable, bound): oneDNN's primitive cache, ideep's computation cache.
CACHE_CAPACITIES = (("ONEDNN_PRIMITIVE_CACHE_CAPACITY", 64), ("LRU_CACHE_CAPACITY", 16))
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 8 << 20


# Inputs this long take several chunks, where what glibc keeps between them adds up; shorter ones
# are faster with glibc's own threshold.
LONG_INPUT_SECONDS = 60.0


def prepare_for_input(seconds: float) -> bool:
    """Before converting ``seconds`` of audio: fix the mmap threshold for a long input (the
    process keeps it) -> whether the input is long (then call ``release_freed_heap`` between
    chunks, or between a batch's stages)."""
    long_input = seconds >= LONG_INPUT_SECONDS
    if long_input:
        fix_mmap_threshold()
    return long_input


def release_freed_heap() -> bool:
    """Return the pages of freed heap memory to the system (glibc's malloc_trim) -> whether it
    could (not off Linux or without glibc)."""
    trim = _glibc_function("malloc_trim")
    return trim is not None and bool(trim(0))


def bound_primitive_cache() -> None:
    """Cap the caches unless the user set their variables. oneDNN and ideep read them when they
    build their first primitive, so call this before the process's first convolution."""
    for variable, capacity in CACHE_CAPACITIES:
        os.environ.setdefault(variable, str(capacity))


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD_BYTES (which also stops its dynamic raising)
    -> whether it was set: not off Linux, not where the C library has no mallopt (not glibc),
    and not when the user chose a threshold through glibc's environment variables."""
    chosen = "MALLOC_MMAP_THRESHOLD_" in os.environ or "malloc.mmap_threshold" in os.environ.get(
        "GLIBC_TUNABLES", ""
    )
    if chosen:
        return False
    mallopt = _glibc_function("mallopt")
    return mallopt is not None and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1


@functools.cache
def _glibc_function(name: str):
    """The C library's function ``name`` on Linux, or None."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None), name, None)
