"""Timbrel: singing voice conversion with RVC and RIFT voice models behind one pipeline."""

__version__ = "0.1.0"
