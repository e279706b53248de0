"""Sequence parts: recurrent encoder, autoregressive decoders with teacher forcing, padding masks."""

from __future__ import annotations

import itertools

import pytest
import torch

import vaekit
from vaekit.distributions import AutoregressiveLikelihood
from vaekit.nn import CausalTransformerDecoder, RecurrentEncoder, RecurrentTokenDecoder
from vaekit.nn.sequence import sequence_lengths
from vaekit.objectives import ELBOObjective
from vaekit.registry import build
from vaekit.train import fit

PAD = -100


def _network(kind: str, vocab: int = 3, context: int = 5, length: int = 4):
    torch.manual_seed(0)
    if kind == "recurrent":
        return RecurrentTokenDecoder(vocab, context, embed_dim=8, hidden=16)
    if kind == "lstm":
        return RecurrentTokenDecoder(vocab, context, embed_dim=8, hidden=16, cell="lstm", context_every_step=True)
    return CausalTransformerDecoder(vocab, context, max_length=length, d_model=16, heads=2, layers=1)


@pytest.mark.parametrize("kind", ["recurrent", "lstm", "transformer"])
def test_decoder_is_causal(kind):
    net = _network(kind, length=6).eval()
    context = torch.randn(2, 5)
    inputs = torch.randint(0, 3, (2, 6))
    changed = inputs.clone()
    changed[:, 3:] = (changed[:, 3:] + 1) % 3
    a, b = net(context, inputs), net(context, changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # positions before the change do not see it
    assert not torch.allclose(a[:, 3:], b[:, 3:])
    assert not torch.allclose(net(context + 1.0, inputs)[:, 0], a[:, 0])  # the context reaches the first token


@pytest.mark.parametrize("kind", ["recurrent", "lstm", "transformer"])
def test_sequence_likelihood_sums_to_one_over_all_sequences(kind):
    likelihood = AutoregressiveLikelihood(_network(kind, length=3), length=3).eval()
    context = torch.randn(2, 5)
    every = torch.tensor(list(itertools.product(range(3), repeat=3)))  # (27, 3): all sequences
    p_x = likelihood(context[:, None, :].expand(2, 27, 5), 1)  # batch (2, 27)
    total = p_x.log_prob(every).exp().sum(-1)  # (2,)
    torch.testing.assert_close(total, torch.ones(2), rtol=1e-5, atol=1e-5)


def test_teacher_forcing_log_prob_matches_step_by_step_probabilities():
    net = _network("recurrent").eval()
    likelihood = AutoregressiveLikelihood(net, length=4).eval()
    context = torch.randn(1, 5)
    x = torch.tensor([[2, 0, 1, 1]])
    expected = 0.0
    inputs = torch.tensor([[net.start_index]])
    for t in range(4):
        logits = net(context, inputs)[:, t]  # the prefix seen so far
        expected += torch.log_softmax(logits, -1)[0, x[0, t]]
        inputs = torch.cat([inputs, x[:, t : t + 1]], 1)
    torch.testing.assert_close(likelihood(context, 1).log_prob(x), expected.reshape(1))


def test_padding_is_masked_out_of_the_likelihood():
    net = _network("recurrent")
    likelihood = AutoregressiveLikelihood(net, length=4, ignore_index=PAD).eval()
    context = torch.randn(1, 5)
    full = torch.tensor([[2, 1, 0, 1]])
    padded = torch.tensor([[2, 1, PAD, PAD]])
    p_x = likelihood(context, 1)
    logits = p_x.logits(full)
    prefix = torch.log_softmax(logits, -1)[0, [0, 1], [2, 1]].sum()
    # Padded positions add nothing, and the tokens before them are scored as in the unpadded sequence.
    torch.testing.assert_close(p_x.log_prob(padded), prefix.reshape(1))
    likelihood.check_data(padded)
    with pytest.raises(ValueError, match="token ids"):
        likelihood.check_data(torch.tensor([[3, 0, 0, 0]]))


def test_encoder_stops_at_padding():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, embed_dim=4, hidden=6, pad_index=PAD)
    a = torch.tensor([[1, 2, 3, PAD, PAD], [4, 4, 4, 4, 4]])
    b = torch.tensor([[1, 2, 3, PAD, PAD], [4, 4, 4, 4, 4]])
    torch.testing.assert_close(encoder(a), encoder(b))
    assert encoder(a).shape == (2, 12)  # bidirectional: two final states
    c = torch.tensor([[1, 2, 3, 0, 0], [4, 4, 4, 4, 4]])  # real tokens where the padding was
    assert not torch.allclose(encoder(a)[0], encoder(c)[0])
    torch.testing.assert_close(encoder(a)[1], encoder(c)[1])
    # A row without padding is read to its end.
    d = torch.tensor([[1, 2, 3, PAD, PAD], [4, 4, 4, 4, 0]])
    assert not torch.allclose(encoder(a)[1], encoder(d)[1])
    assert sequence_lengths(d, PAD).tolist() == [3, 5]


def test_greedy_mean_and_samples_are_valid_sequences():
    likelihood = AutoregressiveLikelihood(_network("transformer"), length=4).eval()
    context = torch.randn(3, 5)
    p_x = likelihood(context, 1)
    greedy = p_x.mean
    assert greedy.shape == (3, 4) and greedy.dtype == torch.long
    # Greedy decoding has the highest probability among sequences that differ from it in the last token.
    for last in range(3):
        other = greedy.clone()
        other[:, -1] = last
        assert bool((p_x.log_prob(greedy) >= p_x.log_prob(other) - 1e-6).all())
    torch.manual_seed(0)
    draws = p_x.sample((2,))
    assert draws.shape == (2, 3, 4) and int(draws.min()) >= 0 and int(draws.max()) < 3


def test_word_dropout_only_in_training():
    likelihood = AutoregressiveLikelihood(_network("recurrent"), length=4, word_dropout=0.9)
    context = torch.randn(2, 5)
    x = torch.tensor([[2, 1, 0, 1], [0, 0, 1, 2]])
    likelihood.eval()
    a, b = likelihood(context, 1).log_prob(x), likelihood(context, 1).log_prob(x)
    torch.testing.assert_close(a, b)
    likelihood.train()
    torch.manual_seed(0)
    assert not torch.allclose(likelihood(context, 1).log_prob(x), a)


def _toy_sequences(n: int = 400, length: int = 6) -> torch.Tensor:
    """Each sequence repeats one of 4 tokens, then is padded after a random length: z can carry the token."""
    gen = torch.Generator().manual_seed(0)
    token = torch.randint(0, 4, (n, 1), generator=gen)
    lengths = torch.randint(3, length + 1, (n, 1), generator=gen)
    x = token.expand(n, length).clone()
    return x.masked_fill(torch.arange(length) >= lengths, PAD)


@pytest.mark.parametrize("decoder", ["recurrent", "transformer"])
def test_sequence_vae_trains_evaluates_and_round_trips(decoder, tmp_path):
    x = _toy_sequences()
    torch.manual_seed(0)
    spec = {"type": "sequence_vae", "vocab_size": 4, "latent_dim": 2, "decoder": decoder, "hidden": 16}
    spec.update(embed_dim=8, transformer_width=16, transformer_heads=2, pad_index=PAD)
    model = vaekit.build_model(spec, [6])
    history = fit(model, ELBOObjective(), x, epochs=6, batch_size=50, lr=1e-2, seed=0)
    assert history.train[-1]["loss"] < history.train[0]["loss"] - 1.0
    torch.manual_seed(0)
    ll = vaekit.log_likelihood(model, x[:20], k=10)
    assert torch.isfinite(ll).all() and bool((ll < 0).all())
    assert model.sample(5).shape == (5, 6)
    model.save(tmp_path / "seq")
    loaded = vaekit.load(tmp_path / "seq")
    torch.manual_seed(1)
    a = model.eval().log_importance_weights(x[:4], 3)
    torch.manual_seed(1)
    torch.testing.assert_close(a, loaded.log_importance_weights(x[:4], 3))


def test_conditional_sequence_vae_uses_the_label():
    x = _toy_sequences(200)
    labels = x[:, 0].clone()  # the repeated token is the label
    torch.manual_seed(0)
    model = vaekit.build_model(
        {"type": "sequence_vae", "vocab_size": 4, "latent_dim": 2, "hidden": 16, "pad_index": PAD, "n_classes": 4},
        [6],
    )
    fit(model, ELBOObjective(), x, labels, epochs=8, batch_size=50, lr=1e-2, seed=0)
    model.eval()
    samples = model.sample(8, y=torch.tensor(2), mean=True)
    assert bool((samples[:, 0] == 2).all())


def test_registered_sequence_parts_build_from_config():
    net = build("sequence_decoder", {"type": "recurrent", "vocab_size": 5, "context_dim": 3})
    again = build("sequence_decoder", net.config())
    assert type(again) is RecurrentTokenDecoder and again.config() == net.config()
    lik = build(
        "likelihood", {"type": "autoregressive", "network": {"kind": "sequence_decoder", **net.config()}, "length": 7}
    )
    assert lik.param_shape([7]) == (3,)
    with pytest.raises(ValueError, match="sequences of shape"):
        lik.param_shape([8])
