"""Reports built on the metrics: :func:`evaluate` (every metric the inputs allow, in one :class:`Report`), its
figure (:mod:`.plot`, matplotlib) and the demo data (:mod:`.demo`)."""

from .evaluate import METRICS, Report, evaluate

__all__ = ["METRICS", "Report", "evaluate"]
