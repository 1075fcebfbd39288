"""Dataset preparation: from a folder of recordings to the training layouts of both families."""
