"""Web UI over the Python API (extra [ui])."""
