"""Online probes, kNN and representation-collapse monitors for Lightning, on shared queues."""

from spt_callbacks.knn import OnlineKNN, knn_predict
from spt_callbacks.probe import OnlineProbe
from spt_callbacks.queue import QueueRegistry, RingQueue, queue_registry
from spt_callbacks.rankme import RankMe, rankme
from spt_callbacks.uniformity import Uniformity, alignment, dimension_std, uniformity

__version__ = "0.1.0"

__all__: list[str] = [
    "OnlineKNN",
    "OnlineProbe",
    "QueueRegistry",
    "RankMe",
    "RingQueue",
    "Uniformity",
    "__version__",
    "alignment",
    "dimension_std",
    "knn_predict",
    "queue_registry",
    "rankme",
    "uniformity",
]
