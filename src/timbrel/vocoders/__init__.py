"""Vocoders: mel and f0 to waveform."""
