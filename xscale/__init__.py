"""xscale: scaling sweeps of English intermediate-task training for zero-shot cross-lingual transfer."""

__version__ = "0.1.0"
