"""Pitch extraction: one interface (base.py), every method behind it."""
