"""Padding never changes the loss, and costs no compute at padded positions; decoders come from a registry."""

from __future__ import annotations

import pytest
import torch

import vaekit
from vaekit.distributions import AutoregressiveLikelihood
from vaekit.nn import CausalTransformerDecoder, RecurrentTokenDecoder
from vaekit.nn.sequence import sequence_decoder_spec
from vaekit.registry import ConfigError

PAD = 0


def _network(kind: str, length: int = 12):
    torch.manual_seed(0)
    if kind == "transformer":
        return CausalTransformerDecoder(6, 3, max_length=length, d_model=16, heads=2, layers=1)
    return RecurrentTokenDecoder(6, 3, embed_dim=8, hidden=16, cell=kind)


def _pad(rows: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([row + [PAD] * (width - len(row)) for row in rows])


@pytest.mark.parametrize("kind", ["gru", "lstm", "transformer"])
@pytest.mark.parametrize("grad", [True, False])
def test_more_padding_gives_the_same_log_likelihood(kind, grad):
    net = _network(kind).eval()
    rows = [[3, 4, 2], [5, 5, 4, 3, 2], [1, 2]]
    context = torch.randn(3, 3)
    with torch.set_grad_enabled(grad):
        short = AutoregressiveLikelihood(net, 6, ignore_index=PAD)(context, 1).log_prob(_pad(rows, 6))
        wide = AutoregressiveLikelihood(net, 12, ignore_index=PAD)(context, 1).log_prob(_pad(rows, 12))
        alone = torch.cat(
            [AutoregressiveLikelihood(net, 6, ignore_index=PAD)(context[i : i + 1], 1).log_prob(_pad([r], 6))
             for i, r in enumerate(rows)]
        )  # fmt: skip
    torch.testing.assert_close(short, wide, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(short, alone, rtol=1e-5, atol=1e-5)
    # The same sum computed from full logits without any masking trick, over the real tokens only.
    unmasked = AutoregressiveLikelihood(net, 6, ignore_index=PAD)(context, 1)
    logp = unmasked.logits(_pad(rows, 6)).log_softmax(-1)
    expected = torch.stack([logp[i, torch.arange(len(r)), torch.tensor(r)].sum() for i, r in enumerate(rows)])
    torch.testing.assert_close(short, expected, rtol=1e-5, atol=1e-5)


def test_packed_features_equal_unpacked_at_real_positions_and_are_zero_after():
    net = _network("gru").eval()
    context = torch.randn(2, 3)
    inputs = torch.tensor([[6, 3, 4, 1, 1], [6, 5, 5, 4, 3]])
    lengths = torch.tensor([3, 5])
    with torch.no_grad():
        packed = net.features(context, inputs, lengths)
        plain = net.features(context, inputs)
    torch.testing.assert_close(packed[0, :3], plain[0, :3])
    torch.testing.assert_close(packed[1], plain[1])
    assert float(packed[0, 3:].abs().sum()) == 0.0


def test_sequence_vae_loss_is_unchanged_by_extra_padding_columns():
    rows = [[3, 4, 2], [5, 5, 4, 3, 2]]
    spec = {"type": "sequence_vae", "vocab_size": 6, "latent_dim": 2, "hidden": 8, "embed_dim": 4, "pad_index": PAD}
    torch.manual_seed(0)
    narrow = vaekit.build_model(spec, [6]).eval()
    wide = vaekit.build_model(spec, [10]).eval()
    wide.load_state_dict(narrow.state_dict())  # the same weights: the length is not a parameter
    torch.manual_seed(3)
    a = narrow.log_importance_weights(_pad(rows, 6), 4)
    torch.manual_seed(3)
    b = wide.log_importance_weights(_pad(rows, 10), 4)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_decoders_are_chosen_by_name_from_the_registry():
    spec = sequence_decoder_spec("transformer", 7, 5, 9, hidden=32, heads=2, cell="gru")
    assert spec == {"type": "transformer", "vocab_size": 7, "context_dim": 5, "max_length": 9, "heads": 2}
    spec = sequence_decoder_spec({"type": "recurrent", "hidden": 12}, 7, 5, 9, hidden=32, cell="lstm")
    assert spec["hidden"] == 12 and spec["cell"] == "lstm" and "max_length" not in spec
    with pytest.raises(ConfigError, match="valid sequence decoders"):
        sequence_decoder_spec("wavenet", 7, 5, 9)
    with pytest.raises(ValueError, match="context must enter"):
        RecurrentTokenDecoder(4, 3, context_init=False, context_every_step=False)
