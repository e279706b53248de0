"""Disentanglement metrics with disentanglement_lib's definitions and defaults (Locatello et al. 2019).

BetaVAE score, FactorVAE score, MIG, DCI, SAP, modularity and explicitness, computed on a
representation function (posterior means by default) and a ground truth of labelled factors.
"""

from vaekit.evaluate.disentanglement.information import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    mig,
    modularity,
    mutual_information_matrix,
)
from vaekit.evaluate.disentanglement.interventions import betavae_score, factorvae_score
from vaekit.evaluate.disentanglement.predictive import (
    dci,
    dci_completeness,
    dci_disentanglement,
    explicitness,
    importance_matrix,
    sap,
)
from vaekit.evaluate.disentanglement.suite import METRICS, disentanglement_metrics, representation

__all__ = [
    "METRICS",
    "betavae_score",
    "dci",
    "dci_completeness",
    "dci_disentanglement",
    "discrete_entropy",
    "discrete_mutual_info",
    "disentanglement_metrics",
    "explicitness",
    "factorvae_score",
    "histogram_discretize",
    "importance_matrix",
    "mig",
    "modularity",
    "mutual_information_matrix",
    "representation",
    "sap",
]
