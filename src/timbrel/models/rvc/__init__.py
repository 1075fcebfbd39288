"""RVC: VITS-style synthesizer with an NSF decoder and a retrieval index."""
