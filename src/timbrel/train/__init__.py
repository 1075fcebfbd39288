"""The generic training loop: data, devices, precision, accumulation, checkpoints, logging, DDP.

A model family supplies a TrainTask (its networks, optimizers and update rule) and, if it has
its own checkpoint files, a TaskStateFormat; everything else lives here.
"""
