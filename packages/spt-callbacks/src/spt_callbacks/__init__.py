"""Online probes, kNN and representation-collapse monitors for Lightning, on shared queues."""

from spt_callbacks.knn import OnlineKNN, knn_predict
from spt_callbacks.lidar import LiDAR, lidar
from spt_callbacks.probe import OnlineProbe
from spt_callbacks.queue import QueueRegistry, RingQueue, queue_registry
from spt_callbacks.rankme import RankMe, rankme
from spt_callbacks.retrieval import Retrieval, retrieval_metrics
from spt_callbacks.schedules import WeightDecaySchedule
from spt_callbacks.uniformity import Uniformity, alignment, dimension_std, uniformity
from spt_callbacks.zero_shot import ZeroShotClassifier

__version__ = "0.1.0"

__all__: list[str] = [
    "LiDAR",
    "OnlineKNN",
    "OnlineProbe",
    "QueueRegistry",
    "RankMe",
    "Retrieval",
    "RingQueue",
    "Uniformity",
    "WeightDecaySchedule",
    "ZeroShotClassifier",
    "__version__",
    "alignment",
    "dimension_std",
    "knn_predict",
    "lidar",
    "queue_registry",
    "rankme",
    "retrieval_metrics",
    "uniformity",
]
