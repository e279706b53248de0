"""BaseModel details: unchecked paths, condition rows for generation, save/load of the class and extras."""

import pytest
import torch

from vaekit.io import ModelFileError, load_extra
from vaekit.models import VAE, VQVAE, BaseModel, build_vae
from vaekit.models.base import log_weights


def tiny(**kwargs):
    torch.manual_seed(0)
    return build_vae([4], latent_dim=2, hidden=(6,), **kwargs)


def test_unchecked_forward_and_importance_weights_accept_out_of_range_data():
    """check=False skips the data check (the loop validated once): a Bernoulli log-probability still evaluates."""
    model = tiny()
    x = torch.tensor([[1.5, -0.5, 0.2, 2.0], [0.0, 1.0, 3.0, 0.5]])
    with pytest.raises(ValueError):
        model(x)
    torch.manual_seed(1)
    out = model(x, check=False)
    assert torch.isfinite(log_weights(out, x)).all()
    weights = model.log_importance_weights(x, 3)
    assert weights.shape == (3, 2) and torch.isfinite(weights).all()


def test_plain_callables_pass_the_objective_check():
    tiny().check_objective(lambda model, batch, step: None)


def test_generation_repeats_a_single_condition_and_rejects_a_wrong_count():
    model = tiny(n_classes=3)
    assert model.sample(5, y=torch.tensor(2)).shape == (5, 4)
    assert model.sample(4, y=torch.tensor([1])).shape == (4, 4)
    assert model.sample(1, y=torch.tensor([0])).shape == (1, 4)
    torch.testing.assert_close(model._generation_condition(torch.tensor(2), 3), torch.tensor([2, 2, 2]))
    torch.testing.assert_close(model._generation_condition(torch.tensor([0, 2]), 2), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"shape \(1,\)"):
        model.sample(1, y=torch.tensor([0, 1]))  # two conditions for one example
    with pytest.raises(ValueError, match="pass y"):
        model.sample(2)
    with pytest.raises(ValueError, match="takes no y"):
        tiny().sample(2, y=torch.tensor([0, 1]))


def test_save_keeps_extra_and_load_checks_the_class(tmp_path):
    model = tiny()
    model.save(tmp_path / "m", extra={"transform": "binarize"})
    assert load_extra(tmp_path / "m") == {"transform": "binarize"}
    loaded = VAE.load(tmp_path / "m")
    assert type(loaded) is VAE
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert type(BaseModel.load(tmp_path / "m", "cpu")) is VAE
    with pytest.raises(ModelFileError, match=r"holds a VAE, not a VQVAE"):
        VQVAE.load(tmp_path / "m")
