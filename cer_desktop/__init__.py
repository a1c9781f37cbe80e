"""cer-desktop: live compound facial expression recognition with vision-language models."""

__version__ = "0.1.0"
