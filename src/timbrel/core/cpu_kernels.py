"""A bound on oneDNN's primitive cache, so that converting long audio takes flat memory.

oneDNN (torch's CPU convolutions) keeps every primitive it built, up to 1024 by default, each with
buffers sized by its input. A conversion's chunks and tiles all differ in length, so each chunk
adds primitives that are never used again: RVC conversion of 10 minutes with a tiny model reached
5.2 GB resident against 1.05 GB for 1 minute. With 64 the cache still holds every primitive of a
decoder tile loop (about 40), resident memory stays at one chunk's worth (measured flat at 0.73 GB
over five chunks), and the conversion time did not change measurably.
"""

from __future__ import annotations

import os

CACHE_CAPACITY_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
BOUNDED_CAPACITY = 64


def bound_primitive_cache() -> None:
    """Cap the cache unless the user set the variable. oneDNN reads it when it builds its first
    primitive, so call this before the process's first convolution (the CLI and ``api.load`` do)."""
    os.environ.setdefault(CACHE_CAPACITY_VARIABLE, str(BOUNDED_CAPACITY))
