"""Anomaly detection with VAEs: a scikit-learn compatible detector, scores and explanations."""

from vaekit.anomaly.detector import NotFittedError, VAEDetector
from vaekit.anomaly.explain import Explanation, save_explanations, save_feature_plot, save_heatmap
from vaekit.anomaly.preprocessing import Preprocessor
from vaekit.anomaly.scores import SCORES, ScoreSettings, anomaly_scores, score_contributions

__all__ = [
    "SCORES",
    "Explanation",
    "NotFittedError",
    "Preprocessor",
    "ScoreSettings",
    "VAEDetector",
    "anomaly_scores",
    "save_explanations",
    "save_feature_plot",
    "save_heatmap",
    "score_contributions",
]
