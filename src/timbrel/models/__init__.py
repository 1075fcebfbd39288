"""Model families behind one small interface (base.py)."""
