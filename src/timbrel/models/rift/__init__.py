"""RIFT: rectified-flow Diffusion Transformer over mel spectrograms."""
