"""Audio in and out: decoding and encoding files, resampling, filters, slicing, segmenting, loudness."""
