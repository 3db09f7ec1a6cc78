"""Evaluation: dataset readers, metrics, the NAB scorer, cached resumable runs and the HTML report."""

from genad.eval._datasets import Dataset, EvalItem, detect_format, load_mask, read_dataset

__all__ = ["Dataset", "EvalItem", "detect_format", "load_mask", "read_dataset"]
