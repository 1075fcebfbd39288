"""Leaf layer: Audio, Features, typed configuration and checkpoint files. Imports nothing of timbrel."""
