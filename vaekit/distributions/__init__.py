"""Posteriors, priors, likelihoods and the KL between posterior and prior."""

from vaekit.distributions.kl import KLTerms, kl_terms
from vaekit.distributions.likelihoods import (
    BernoulliLikelihood,
    CategoricalImage,
    CategoricalLikelihood,
    DiscretizedLogistic,
    DiscretizedLogisticLikelihood,
    GaussianLikelihood,
    Likelihood,
)
from vaekit.distributions.posterior import (
    DeterministicPosterior,
    DiagonalGaussianPosterior,
    PointMass,
    diagonal_gaussian,
    has_density,
)
from vaekit.distributions.priors import MixtureOfGaussiansPrior, Prior, StandardNormalPrior, VampPrior
from vaekit.distributions.sequence import AutoregressiveLikelihood, AutoregressiveSequence

__all__ = [
    "AutoregressiveLikelihood",
    "AutoregressiveSequence",
    "BernoulliLikelihood",
    "CategoricalImage",
    "CategoricalLikelihood",
    "DeterministicPosterior",
    "DiagonalGaussianPosterior",
    "DiscretizedLogistic",
    "DiscretizedLogisticLikelihood",
    "GaussianLikelihood",
    "KLTerms",
    "Likelihood",
    "MixtureOfGaussiansPrior",
    "PointMass",
    "Prior",
    "StandardNormalPrior",
    "VampPrior",
    "diagonal_gaussian",
    "has_density",
    "kl_terms",
]
