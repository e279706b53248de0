"""Evaluation shared by every model: importance-sampled likelihood, bits/dim, latent diagnostics."""

from vaekit.evaluate.latent import active_units, elbo_terms, mutual_information, posterior_statistics
from vaekit.evaluate.likelihood import bits_per_dim, log_likelihood
from vaekit.evaluate.quality import frechet_distance, train_feature_classifier
from vaekit.evaluate.report import evaluate

__all__ = [
    "active_units",
    "bits_per_dim",
    "elbo_terms",
    "evaluate",
    "frechet_distance",
    "log_likelihood",
    "mutual_information",
    "posterior_statistics",
    "train_feature_classifier",
]
