"""Pitch, content, mel and RMS features, and the extraction stage."""
