"""Offline and streaming conversion."""
