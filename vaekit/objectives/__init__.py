"""Objectives (plain functions and configured callables) and weight schedules."""

from vaekit.objectives.aggressive import AggressiveELBO
from vaekit.objectives.disentangle import (
    BetaTCVAEObjective,
    DIPVAEObjective,
    FactorVAEObjective,
    dip_penalty,
    permute_dims,
    total_correlation_terms,
)
from vaekit.objectives.elbo import (
    LossOutput,
    elbo,
    free_bits_kl,
    iwae_bound,
    kl_balance_coefficients,
    kl_per_group,
    log_mean_exp,
)
from vaekit.objectives.hierarchical import HierarchicalELBO, SpectralPenalty
from vaekit.objectives.mmd import WAEObjective, kernel_matrix, mmd_unbiased
from vaekit.objectives.objective import ELBOObjective, IWAEObjective, Objective, split_batch
from vaekit.objectives.property import PropertyELBO
from vaekit.objectives.schedules import (
    CapacityIncrease,
    Constant,
    Cyclical,
    LinearWarmup,
    Logistic,
    Schedule,
    as_schedule,
)
from vaekit.objectives.semisupervised import M2Objective, m2_class_bounds, m2_loss
from vaekit.objectives.vaegan import VAEGANObjective
from vaekit.objectives.vq import CodePriorObjective, VQObjective

__all__ = [
    "AggressiveELBO",
    "BetaTCVAEObjective",
    "DIPVAEObjective",
    "FactorVAEObjective",
    "CapacityIncrease",
    "CodePriorObjective",
    "Constant",
    "Cyclical",
    "ELBOObjective",
    "HierarchicalELBO",
    "PropertyELBO",
    "IWAEObjective",
    "M2Objective",
    "LinearWarmup",
    "Logistic",
    "LossOutput",
    "Objective",
    "Schedule",
    "SpectralPenalty",
    "VAEGANObjective",
    "VQObjective",
    "WAEObjective",
    "as_schedule",
    "dip_penalty",
    "elbo",
    "free_bits_kl",
    "iwae_bound",
    "kernel_matrix",
    "kl_balance_coefficients",
    "kl_per_group",
    "log_mean_exp",
    "m2_class_bounds",
    "m2_loss",
    "mmd_unbiased",
    "permute_dims",
    "split_batch",
    "total_correlation_terms",
]
