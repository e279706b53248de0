"""The shipped molecule configs are molecule runs with the property head and their tokenizer."""

from __future__ import annotations

import pytest

from tests.helpers import CONFIGS
from vaekit.config import load_config
from vaekit.text.domains import domain_for


@pytest.mark.parametrize(
    ("name", "tokenizer"), [("moses_selfies", "selfies"), ("moses_smiles", "smiles"), ("moses_kekule", "kekule_smiles")]
)
def test_moses_configs_are_molecule_runs_with_a_property_head(name, tokenizer):
    config = load_config(CONFIGS / f"{name}.yaml")
    domain = domain_for(config)
    assert domain.name == "molecules" and config.data.tokenizer == tokenizer
    spec = domain.model_spec(config)
    assert spec["type"] == "property_sequence_vae" and config.objective["type"] == "property_elbo"
    assert spec["n_properties"] == 3
