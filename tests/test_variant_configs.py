"""The variant configs in configs/ each build their model and objective."""

from __future__ import annotations

import vaekit
from tests.helpers import CONFIGS
from vaekit.registry import build


def test_every_variant_config_builds_its_model_and_objective():
    names = [
        "beta_vae",
        "beta_vae_capacity",
        "kl_cyclical",
        "free_bits",
        "cvae",
        "iwae",
        "wae_mmd",
        "vampprior",
        "mixture_prior",
        "vaegan",
    ]
    for name in names:
        run = vaekit.config.load_config(CONFIGS / f"{name}.yaml")
        spec = vaekit.config.model_spec(run, n_classes=10, image_data=True)
        model = vaekit.build_model(spec, [1, 8, 8])
        objective = build("objective", vaekit.config.objective_spec(run))
        assert callable(objective) and hasattr(model, "sample"), name
