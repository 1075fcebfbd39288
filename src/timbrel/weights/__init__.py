"""The compatibility layer: the only code that knows foreign file formats."""
