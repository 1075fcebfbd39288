"""Shared torch layers with no model-family knowledge."""
