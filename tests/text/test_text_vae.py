"""A sentence VAE on a tiny corpus whose sentence is set by a hidden class: it must use z."""

from __future__ import annotations

import pytest
import torch

import vaekit
from vaekit.data.lines import encode_lines
from vaekit.data.tokenizers import train_tokenizer
from vaekit.decoding import DecodeOptions
from vaekit.evaluate import elbo_terms, log_likelihood
from vaekit.objectives import ELBOObjective
from vaekit.text import TextModel, is_text_model
from vaekit.train import fit

SENTENCES = ["the cat sat on the mat", "the dog ran to the door", "a bird sang in the tree", "the cat ran to the tree"]


@pytest.fixture(scope="module")
def trained():
    gen = torch.Generator().manual_seed(0)
    classes = torch.randint(0, len(SENTENCES), (240,), generator=gen)  # the hidden class of each line
    lines = [SENTENCES[int(c)] for c in classes]
    tokenizer = train_tokenizer("word", lines)
    x = encode_lines(tokenizer, lines, 8)
    torch.manual_seed(0)
    spec = {"type": "sequence_vae", "vocab_size": len(tokenizer), "latent_dim": 2, "hidden": 24, "embed_dim": 8}
    spec.update(pad_index=tokenizer.pad_index, end_index=tokenizer.eos_index, context_every_step=True)
    model = vaekit.build_model(spec, [8])
    # Free bits: using z costs nothing up to 1 nat per dimension (without a defence, ignoring z is as good).
    fit(model, ELBOObjective(free_bits=1.0), x, epochs=12, batch_size=20, lr=1e-2, seed=0, progress=False)
    return TextModel(model.eval(), tokenizer), x


def test_the_model_uses_z_and_reconstructs_the_hidden_class(trained):
    text_model, x = trained
    terms = elbo_terms(text_model.model, x)
    assert float(terms["kl"]) > 0.5  # the class (log 4 = 1.39 nats) has to go through z
    assert text_model.reconstruct(SENTENCES) == SENTENCES
    assert text_model.reconstruct(SENTENCES, DecodeOptions("beam", beam=3)) == SENTENCES
    # The prior's draws decode to the corpus's sentences, and to more than one of them.
    samples = text_model.sample(20, seed=0)
    assert set(samples) <= set(SENTENCES) and len(set(samples)) >= 2
    path = text_model.interpolate(SENTENCES[0], SENTENCES[2], 5)
    assert path[0] == SENTENCES[0] and path[-1] == SENTENCES[2]


def test_importance_sampled_likelihood_is_at_least_the_elbo(trained):
    text_model, x = trained
    torch.manual_seed(0)
    ll = log_likelihood(text_model.model, x[:60], k=200)
    elbo = float(elbo_terms(text_model.model, x[:60])["elbo"])
    assert float(ll.mean()) >= elbo
    assert bool((ll <= 0).all())


def test_save_and_load_bring_the_tokenizer_back(trained, tmp_path):
    text_model, x = trained
    text_model.save(tmp_path / "model")
    assert is_text_model(tmp_path / "model") and not is_text_model(tmp_path / "elsewhere")
    loaded = TextModel.load(tmp_path / "model")
    assert loaded.tokenizer.config() == text_model.tokenizer.config()
    assert loaded.reconstruct(SENTENCES) == text_model.reconstruct(SENTENCES)
    torch.testing.assert_close(loaded.latent_means(SENTENCES), text_model.latent_means(SENTENCES))
    torch.manual_seed(1)
    a = log_likelihood(loaded.model, x[:8], k=5)
    torch.manual_seed(1)
    torch.testing.assert_close(a, log_likelihood(text_model.model, x[:8], k=5))


def test_a_model_saved_without_tokenizer_is_refused(tmp_path):
    from vaekit.io import ModelFileError

    spec = {"type": "sequence_vae", "vocab_size": 5, "latent_dim": 2, "hidden": 8, "embed_dim": 4, "pad_index": 0}
    vaekit.build_model(spec, [5]).save(tmp_path / "bare")
    with pytest.raises(ModelFileError, match="without a tokenizer"):
        TextModel.load(tmp_path / "bare")
