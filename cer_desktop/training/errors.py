"""The error of a training run that cannot start or finish."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """A run that cannot start or finish (model cannot load, adapter does not fit...)."""
