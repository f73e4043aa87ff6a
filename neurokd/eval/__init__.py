"""Evaluation: accuracy and loss over a loader."""

from neurokd.eval.accuracy import evaluate

__all__ = ["evaluate"]
