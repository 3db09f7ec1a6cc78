"""Local experts: offline scores and anomaly maps for each modality."""

from genad.experts.base import Expert, ExpertResult

__all__ = ["Expert", "ExpertResult"]
