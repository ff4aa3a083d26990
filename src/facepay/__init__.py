"""facepay: face-recognition identity and payment for hospitals."""

__version__ = "0.1.0"
