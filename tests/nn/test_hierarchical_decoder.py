"""The hierarchical (conductor + bar) decoder: one bar behaves as the flat decoder, bars are independent
given their embeddings, and step-by-step decoding agrees with teacher forcing."""

import torch

from vaekit.decoding import greedy_tokens
from vaekit.nn.sequence import HierarchicalTokenDecoder, RecurrentTokenDecoder
from vaekit.registry import build


def _pair(steps_per_bar=6, length=6, cell="lstm"):
    torch.manual_seed(0)
    hier = HierarchicalTokenDecoder(7, 5, length, steps_per_bar, conductor_hidden=8, embed_dim=4, hidden=10, cell=cell)
    flat = RecurrentTokenDecoder(7, 8, 4, 10, cell, context_every_step=True, context_init=True)
    flat.load_state_dict(hier.bar.state_dict())
    return hier, flat


def test_with_one_bar_the_hierarchical_decoder_is_the_flat_decoder_on_the_bar_embedding():
    hier, flat = _pair()
    context = torch.randn(3, 5)
    inputs = torch.randint(0, 7, (3, 6))
    embedding = hier.bar_embeddings(context)  # (3, 1, 8)
    assert embedding.shape == (3, 1, 8)
    torch.testing.assert_close(hier(context, inputs), flat(embedding[:, 0], inputs))
    # greedy decoding, token by token through step(), also agrees
    torch.testing.assert_close(greedy_tokens(hier, context, 6), greedy_tokens(flat, embedding[:, 0], 6))


def test_each_bar_restarts_from_its_own_embedding():
    hier, flat = _pair(steps_per_bar=3, length=9, cell="gru")
    context = torch.randn(2, 5)
    inputs = torch.randint(0, 7, (2, 9))
    logits = hier(context, inputs)
    embeddings = hier.bar_embeddings(context)  # (2, 3, 8)
    for b in range(3):
        expected = flat(embeddings[:, b], inputs[:, 3 * b : 3 * b + 3])
        torch.testing.assert_close(logits[:, 3 * b : 3 * b + 3], expected)
    # changing tokens of bar 0 leaves bar 2's logits alone except through its own inputs
    changed = inputs.clone()
    changed[:, 1] = (changed[:, 1] + 1) % 7
    torch.testing.assert_close(hier(context, changed)[:, 3:], logits[:, 3:])


def test_step_decoding_matches_teacher_forcing_across_bar_lines():
    hier, _ = _pair(steps_per_bar=3, length=8)
    context = torch.randn(2, 5)
    tokens = greedy_tokens(hier, context, 8)  # (2, 8)
    inputs = torch.cat([torch.full((2, 1), hier.start_index), tokens[:, :-1]], 1)
    assert torch.equal(hier(context, inputs).argmax(-1), tokens)


def test_padding_lengths_give_the_same_features_on_real_positions():
    hier, _ = _pair(steps_per_bar=3, length=8)
    context = torch.randn(2, 5)
    inputs = torch.randint(0, 7, (2, 8))
    lengths = torch.tensor([8, 4])
    full = hier.features(context, inputs)
    packed = hier.features(context, inputs, lengths)
    torch.testing.assert_close(packed[0], full[0])
    torch.testing.assert_close(packed[1, :4], full[1, :4])


def test_it_is_a_registered_sequence_decoder():
    net = build("sequence_decoder", {"type": "hierarchical", "vocab_size": 5, "context_dim": 3, "max_length": 32})
    assert net.bars == 2
