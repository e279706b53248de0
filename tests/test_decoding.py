"""Decoding: incremental steps equal the full forward pass; beam 1 is greedy; a wide beam is exact;
top-k / top-p / temperature filters; the end token and the length limit."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch

from vaekit.decoding import DecodeOptions, beam_search, decode_tokens, fill_after_end, filter_logits, greedy_tokens
from vaekit.decoding import sample_tokens as sample_sequence
from vaekit.nn import CausalTransformerDecoder, RecurrentTokenDecoder

KINDS = ["gru", "lstm-every-step", "transformer"]


def _network(kind: str, vocab: int = 4, context: int = 3, length: int = 6):
    torch.manual_seed(0)
    if kind == "gru":
        net = RecurrentTokenDecoder(vocab, context, embed_dim=8, hidden=16)
    elif kind == "lstm-every-step":
        net = RecurrentTokenDecoder(vocab, context, embed_dim=8, hidden=16, cell="lstm", context_every_step=True)
    else:
        net = CausalTransformerDecoder(vocab, context, max_length=length, d_model=16, heads=2, layers=1)
    with torch.no_grad():  # sharper next-token distributions than at initialisation
        net.out.weight.mul_(8.0)
    return net.eval()


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_steps_equal_the_full_forward_pass(kind):
    net = _network(kind)
    context = torch.randn(2, 3)
    inputs = torch.cat([torch.full((2, 1), net.start_index), torch.randint(0, 4, (2, 4))], 1)
    full = net(context, inputs)  # (2, 5, V)
    state = net.start_state(context)
    for t in range(inputs.shape[1]):
        logits, state = net.step(context, inputs[:, t], state)
        torch.testing.assert_close(logits, full[:, t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("end", [None, 1])
def test_beam_of_one_is_greedy_decoding(kind, end):
    net = _network(kind)
    context = torch.randn(5, 3)
    greedy = greedy_tokens(net, context, 6, end_index=end)
    torch.testing.assert_close(beam_search(net, context, 6, beam=1, end_index=end), greedy)
    torch.testing.assert_close(decode_tokens(net, context, 6, DecodeOptions("sample", temperature=0.0), end), greedy)
    torch.testing.assert_close(decode_tokens(net, context, 6, DecodeOptions("sample", top_k=1), end), greedy)


def _log_prob(net, context, seq):
    inputs = torch.cat([torch.tensor([net.start_index]), seq[:-1]])[None]
    return net(context[None], inputs)[0].log_softmax(-1).gather(-1, seq[:, None]).sum()


@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_a_beam_as_wide_as_all_prefixes_finds_the_most_likely_sequence(kind):
    vocab, length = 3, 3
    net = _network(kind, vocab=vocab, length=length)
    torch.manual_seed(1)
    context = torch.randn(4, 3)
    found = beam_search(net, context, length, beam=vocab ** (length - 1))
    every = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
    with torch.no_grad():
        for row in range(4):
            scores = torch.stack([_log_prob(net, context[row], s) for s in every])
            assert found[row].tolist() == every[scores.argmax()].tolist()
            # ... and greedy decoding never scores higher than it.
            greedy = greedy_tokens(net, context[row : row + 1], length)[0]
            assert _log_prob(net, context[row], greedy) <= scores.max() + 1e-5


def test_end_token_stops_a_sequence_and_the_rest_is_filled():
    tokens = torch.tensor([[3, 1, 2, 1], [2, 2, 2, 2], [1, 0, 0, 0]])
    filled = fill_after_end(tokens, end_index=1, fill_value=0, length=6)
    assert filled.tolist() == [[3, 1, 0, 0, 0, 0], [2, 2, 2, 2, 0, 0], [1, 0, 0, 0, 0, 0]]
    net = _network("gru")
    out = sample_sequence(
        net, torch.randn(20, 3), 6, end_index=2, fill_value=-1, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (20, 6)
    for row in out.tolist():
        if 2 in row:
            assert all(v == -1 for v in row[row.index(2) + 1 :])
        else:
            assert -1 not in row  # no end token: the length limit stopped it


def test_banned_tokens_are_never_produced():
    net = _network("gru")
    context = torch.randn(50, 3)
    for tokens in (
        greedy_tokens(net, context, 6, banned=[0, 3]),
        beam_search(net, context, 6, beam=3, banned=[0, 3]),
        sample_sequence(net, context, 6, banned=[0, 3], generator=torch.Generator().manual_seed(0)),
    ):
        assert not bool(((tokens == 0) | (tokens == 3)).any())


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    # 0.5 + 0.3 = 0.8 reaches p = 0.75: the smallest set is the first two tokens.
    assert torch.isfinite(filter_logits(logits, top_p=0.75)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.85)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.1)).tolist() == [[True, False, False, False]]
    # Temperature divides the logits: probabilities sharpen below 1.
    sharp = filter_logits(logits, temperature=0.5).softmax(-1)
    assert float(sharp[0, 0]) > 0.5


def test_sampling_follows_the_filtered_distribution():
    net = _network("gru", vocab=4)
    context = torch.zeros(4000, 3)
    first = sample_sequence(net, context, 1, top_k=2, generator=torch.Generator().manual_seed(0))[:, 0]
    logits, _ = net.step(context[:1], torch.tensor([net.start_index]), net.start_state(context[:1]))
    top2 = logits[0].topk(2).indices
    expected = logits[0, top2].softmax(-1)
    counts = torch.stack([(first == t).float().mean() for t in top2])
    assert set(first.unique().tolist()) <= set(top2.tolist())
    torch.testing.assert_close(counts, expected, atol=0.03, rtol=0)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown decoding method"):
        DecodeOptions("nucleus")
    with pytest.raises(ValueError, match="top_p"):
        DecodeOptions("sample", top_p=1.5)
    with pytest.raises(ValueError, match="beam"):
        DecodeOptions("beam", beam=0)
    with pytest.raises(ValueError, match="min_length"):
        DecodeOptions(min_length=-1)


@pytest.mark.parametrize("kind", KINDS)
def test_min_length_holds_the_end_token_back(kind):
    end = 1
    net = _network(kind)
    with torch.no_grad():  # the end token is by far the most likely at every step
        net.out.bias[end] += 30.0
    context = torch.randn(6, 3)
    options = [DecodeOptions("greedy"), DecodeOptions("beam", beam=3), DecodeOptions("sample")]
    for option in options:
        tokens = decode_tokens(net, context, 6, option, end, generator=torch.Generator().manual_seed(0))
        assert (tokens[:, 0] == end).all()  # without min_length every sequence is empty
        held = decode_tokens(
            net, context, 6, replace(option, min_length=3), end, generator=torch.Generator().manual_seed(0)
        )
        assert not (held[:, :3] == end).any() and (held[:, 3] == end).all()
