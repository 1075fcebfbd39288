"""Generic training loop: data, accumulation, precision, DDP, checkpoints, logging."""
