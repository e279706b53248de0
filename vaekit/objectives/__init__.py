"""Objectives (plain functions and configured callables) and weight schedules."""

from vaekit.objectives.elbo import LossOutput, elbo, free_bits_kl, iwae_bound, log_mean_exp
from vaekit.objectives.objective import ELBOObjective, IWAEObjective, Objective, split_batch
from vaekit.objectives.schedules import CapacityIncrease, Constant, Cyclical, LinearWarmup, Schedule, as_schedule

__all__ = [
    "CapacityIncrease",
    "Constant",
    "Cyclical",
    "ELBOObjective",
    "IWAEObjective",
    "LinearWarmup",
    "LossOutput",
    "Objective",
    "Schedule",
    "as_schedule",
    "elbo",
    "free_bits_kl",
    "iwae_bound",
    "log_mean_exp",
    "split_batch",
]
