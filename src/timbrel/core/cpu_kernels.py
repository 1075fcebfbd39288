"""Bounds on what native libraries keep resident, so that converting long audio takes flat memory.

oneDNN (torch's CPU convolutions) keeps every primitive it built, up to 1024 by default, each with
buffers sized by its input. A conversion's chunks and tiles all differ in length, so each chunk
adds primitives that are never used again: RVC conversion of 10 minutes with a tiny model reached
5.2 GB resident against 1.05 GB for 1 minute. With 64 the cache still holds every primitive of a
decoder tile loop (about 40), resident memory stays at one chunk's worth (measured flat at 0.73 GB
over five chunks), and the conversion time did not change measurably.

glibc's malloc raises its mmap threshold to the size of each mapped block that is freed (up to
32 MiB), after which a conversion's tensors of 1 to 32 MiB (decoder tiles, attention blocks) come
from its heaps, and the heaps keep what was freed: a full-size RVC conversion held 370 to 620 MB
of freed heap after its first chunk (glibc's own count), resident for the rest of the run. With
the threshold fixed, larger tensors are mapped and unmapped whole. The threshold trades memory
for page faults: for the same 1-minute conversion, 1 MiB peaked at 1.24 GB but made a 10 s vocoder
pass 35% slower (5.97 s against 4.43 s, quiet 2-core Zen 4); 4 MiB 1.28 GB; 8 MiB 1.39 GB with
13 s of system time against 26 s at 4 MiB; glibc's dynamic threshold 1.63 GB. Even 8 MiB costs
short inputs about 5-10% (the 10 s vocoder pass: 4.65 s), so the threshold is fixed only once an
input of ``LONG_INPUT_SECONDS`` or more is converted.
"""

from __future__ import annotations

import ctypes
import os
import sys

CACHE_CAPACITY_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
BOUNDED_CAPACITY = 64
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 8 << 20


# Inputs this long take several chunks, where what glibc keeps between them adds up; shorter ones
# are faster with glibc's own threshold.
LONG_INPUT_SECONDS = 60.0


def prepare_for_input(seconds: float) -> None:
    """Before converting ``seconds`` of audio: fix the mmap threshold for a long input (the
    process keeps it)."""
    if seconds >= LONG_INPUT_SECONDS:
        fix_mmap_threshold()


def bound_primitive_cache() -> None:
    """Cap the cache unless the user set the variable. oneDNN reads it when it builds its first
    primitive, so call this before the process's first convolution."""
    os.environ.setdefault(CACHE_CAPACITY_VARIABLE, str(BOUNDED_CAPACITY))


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD_BYTES (which also stops its dynamic raising)
    -> whether it was set: not off Linux, not where the C library has no mallopt (not glibc),
    and not when the user chose a threshold through glibc's environment variables."""
    chosen = "MALLOC_MMAP_THRESHOLD_" in os.environ or "malloc.mmap_threshold" in os.environ.get(
        "GLIBC_TUNABLES", ""
    )
    if chosen or not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return mallopt is not None and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
