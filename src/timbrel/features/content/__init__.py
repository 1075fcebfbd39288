"""Content encoders: HuBERT as RVC reads it and ContentVec as RIFT-SVC reads it."""
