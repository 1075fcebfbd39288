"""The Python API. The CLI and the web UI call these functions and nothing below them."""
