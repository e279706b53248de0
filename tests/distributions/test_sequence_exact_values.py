"""The autoregressive sequence likelihood with a bigram network whose probabilities are known by hand."""

import pytest
import torch
from torch import nn

from vaekit.decoding import DecodeOptions
from vaekit.distributions import AutoregressiveLikelihood, AutoregressiveSequence
from vaekit.nn.sequence import AutoregressiveNetwork

V = 4  # tokens 0..3; input ids 4 (start) and 5 (unknown)


class Bigram(AutoregressiveNetwork):
    """Next-token logits = table[previous input] + context @ weight: log p(x) is a sum of table look-ups."""

    def __init__(self, table: torch.Tensor, weight: torch.Tensor):
        super().__init__()
        self.vocab_size, self.context_dim = V, weight.shape[0]
        self.table, self.weight = nn.Parameter(table), nn.Parameter(weight)

    def features(self, context, inputs, lengths=None):
        return self.table[inputs] + (context @ self.weight)[:, None, :]

    def project(self, h):
        return h


def bigram(seed=0):
    torch.manual_seed(seed)
    return Bigram(torch.randn(V + 2, V), torch.randn(2, V))


def hand_log_prob(net, context, tokens, pad=None, dropped=()):
    """sum_t log softmax(table[previous] + c W)[x_t], stopping at the first padding id."""
    total, previous = 0.0, net.start_index
    for t, token in enumerate(tokens):
        if pad is not None and token == pad:
            break
        logits = net.table[net.unknown_index if t in dropped else previous] + context @ net.weight
        total += float(torch.log_softmax(logits, -1)[token].detach())
        previous = token
    return total


def test_teacher_forced_log_prob_over_a_two_dimensional_batch():
    net = bigram()
    context = torch.randn(2, 3, 2)
    x = torch.tensor([[[0, 1, 2], [3, 3, 0], [2, 0, 1]], [[1, 1, 1], [0, 2, 3], [3, 2, 1]]])
    dist = AutoregressiveSequence(net, context, 3)
    got = dist.log_prob(x)
    assert got.shape == (2, 3)
    expected = [[hand_log_prob(net, context[i, j], x[i, j].tolist()) for j in range(3)] for i in range(2)]
    torch.testing.assert_close(got, torch.tensor(expected))
    net.train()  # no word dropout by default, also in training
    torch.testing.assert_close(AutoregressiveSequence(net, context, 3).log_prob(x), got)


def test_padding_ends_each_sequence_and_all_padding_scores_zero():
    net = bigram(1)
    context = torch.randn(3, 2)
    lik = AutoregressiveLikelihood(net, length=4, ignore_index=0).eval()
    x = torch.tensor([[2, 1, 0, 3], [3, 3, 3, 1], [0, 2, 2, 2]])
    expected = [hand_log_prob(net, context[i], x[i].tolist(), pad=0) for i in range(3)]
    torch.testing.assert_close(lik(context, 1).log_prob(x), torch.tensor(expected))
    with torch.no_grad():  # blocks of projections without gradients
        torch.testing.assert_close(lik(context, 1).log_prob(x), torch.tensor(expected))
    torch.testing.assert_close(lik(context, 1).log_prob(torch.zeros(3, 4, dtype=torch.long)), torch.zeros(3))
    short = AutoregressiveLikelihood(net, length=1, ignore_index=0)(context[:2], 1)
    expected = [0.0, hand_log_prob(net, context[1], [2])]
    torch.testing.assert_close(short.log_prob(torch.tensor([[0], [2]])), torch.tensor(expected))


def test_word_dropout_hides_each_later_input_with_its_probability():
    """p = 0.5 in training: positions 1 and 2 read the unknown token half the time each, position 0 never."""
    net = bigram(2).train()
    context = torch.randn(2).expand(4000, 2)
    x = torch.tensor([1, 3, 2]).expand(4000, 3)
    torch.manual_seed(0)
    got = AutoregressiveLikelihood(net, length=3, word_dropout=0.5)(context, 1).log_prob(x)
    c = context[0]
    combos = [(), (1,), (2,), (1, 2)]
    values = torch.tensor([hand_log_prob(net, c, [1, 3, 2], dropped=d) for d in combos])
    nearest = (got[:, None] - values).abs().argmin(1)
    torch.testing.assert_close(got, values[nearest])
    frequencies = torch.bincount(nearest, minlength=4).float() / 4000
    torch.testing.assert_close(frequencies, torch.full((4,), 0.25), atol=0.03, rtol=0)


def table_net(rows: dict[int, list[float]]) -> Bigram:
    table = torch.zeros(V + 2, V)
    for i, row in rows.items():
        table[i] = torch.tensor(row)
    return Bigram(table, torch.zeros(2, V))


def test_greedy_decoding_bans_the_padding_id_and_fills_after_the_end():
    # From the start token 0 is best, then 1; after 1 the end token 3 follows.
    net = table_net({4: [5.0, 1.0, 0.0, -1.0], 1: [5.0, 0.0, 1.0, 3.0], 0: [0.0, 0.0, 0.0, 9.0]})
    context = torch.zeros(2, 2)
    padded = AutoregressiveSequence(net, context, 4, ignore_index=0, end_index=3)
    assert padded.mean.tolist() == [[1, 3, 0, 0]] * 2  # 0 is padding: never generated, fills the tail
    plain = AutoregressiveSequence(net, context, 4, end_index=3)
    assert plain.mean.tolist() == [[0, 3, 3, 3]] * 2  # no padding id: the end token fills the tail
    outside = AutoregressiveSequence(net, context, 4, ignore_index=V, end_index=3)  # padding id outside the vocabulary
    assert outside.mean.tolist() == [[0, 3, V, V]] * 2


def test_sampling_follows_the_first_token_distribution_and_stops_at_the_end():
    net = table_net({4: [1.0, 0.0, 0.5, -0.5], 0: [0.0] * 4, 1: [0.0] * 4, 2: [0.0] * 4, 3: [0.0] * 4})
    torch.manual_seed(0)
    draws = AutoregressiveLikelihood(net, length=3, end_index=3, ignore_index=-1)(torch.zeros(2, 3, 2), 1).sample(
        (500,)
    )
    assert draws.shape == (500, 2, 3, 3)
    first = torch.bincount(draws[..., 0].flatten(), minlength=V).float() / draws[..., 0].numel()
    torch.testing.assert_close(first, torch.softmax(net.table[4], -1).detach(), atol=0.02, rtol=0)
    ended = torch.cumsum(draws == 3, -1) > 0
    after_end = ended[..., :-1]  # position t + 1 follows an end token at or before t
    assert (draws[..., 1:][after_end] == -1).all()  # filled with the padding id after the end token
    banned = AutoregressiveLikelihood(net, length=3, end_index=3, ignore_index=0)(torch.zeros(50, 2), 1).sample()
    assert not (banned[:, 0] == 0).any()  # the padding id is never drawn


def test_sampling_with_a_generator_is_reproducible_whatever_the_global_seed():
    dist = AutoregressiveSequence(bigram(3), torch.randn(6, 2), 5)
    torch.manual_seed(1)
    a = dist.decode(DecodeOptions("sample"), torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    b = dist.decode(DecodeOptions("sample"), torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_likelihood_arguments_and_data_checks():
    net = bigram()
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"word_dropout must be in \[0, 1\)"):
            AutoregressiveLikelihood(net, length=3, word_dropout=bad)
    lik = AutoregressiveLikelihood(net, length=3, word_dropout=0.99, end_index=2)
    assert lik(torch.zeros(1, 2), 1).end_index == 2
    with pytest.raises(ValueError, match="one data dimension, got 2"):
        lik(torch.zeros(1, 2), 2)
    with pytest.raises(ValueError, match="^an autoregressive sequence likelihood needs integer token ids, got floats$"):
        lik.check_data(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"must lie in 0\.\.3$"):
        lik.check_data(torch.tensor([[0, 4, 1]]))
    padded = AutoregressiveLikelihood(net, length=3, ignore_index=9)
    padded.check_data(torch.tensor([[0, 3, 9]]))
    with pytest.raises(ValueError, match=r"must lie in 0\.\.3 or be the padding id 9$"):
        padded.check_data(torch.tensor([[-1, 3, 9]]))
