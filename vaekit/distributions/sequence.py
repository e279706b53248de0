"""An autoregressive likelihood over token sequences: p(x|z) = prod_t p(x_t | x_<t, z).

In the VAE composition the decoder maps z to a context vector, and this likelihood holds
the autoregressive network (``vaekit.nn.sequence``) that turns the context into a
distribution over whole sequences. ``log_prob`` uses teacher forcing (the true previous
tokens) with padding masked out and skipped; ``sample``, ``mean`` and ``decode`` generate one
token at a time through :mod:`vaekit.decoding`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution

from vaekit.decoding import DecodeOptions, decode_tokens
from vaekit.distributions.likelihoods import Likelihood
from vaekit.nn.sequence import AutoregressiveNetwork, sequence_lengths
from vaekit.registry import register

PROJECTION_BLOCK = 8192  # real positions projected to the vocabulary at once when no gradient is needed


class AutoregressiveSequence(Distribution):
    """A distribution over sequences of ``length`` tokens, one per context row.

    A sequence ends at its first padding id (``ignore_index``): later positions add nothing to
    ``log_prob`` and cost no compute (the batch is cut to its longest sequence, a recurrent network
    reads packed sequences, and only real positions are projected to the vocabulary).

    Args:
        network: the autoregressive network.
        context: (*batch, C) context vectors.
        length: tokens per sequence.
        ignore_index: padding id masked out of ``log_prob``.
        word_dropout: probability of replacing each teacher-forced input by the unknown token.
        end_index: token that ends a generated sequence (None: generate ``length`` tokens).
    """

    arg_constraints: dict = {}

    def __init__(
        self,
        network: AutoregressiveNetwork,
        context: Tensor,
        length: int,
        ignore_index: int | None = None,
        word_dropout: float = 0.0,
        end_index: int | None = None,
    ):
        self.network, self.context, self.length = network, context, int(length)
        self.ignore_index, self.word_dropout, self.end_index = ignore_index, float(word_dropout), end_index
        super().__init__(batch_shape=context.shape[:-1])  # nothing to validate: arg_constraints is empty

    def _shift_right(self, x: Tensor) -> Tensor:
        """(N, T) targets -> (N, T) inputs: start token, then x_0..x_{T-2}, padding made harmless."""
        start = x.new_full((x.shape[0], 1), self.network.start_index)
        inputs = torch.cat([start, x[:, :-1]], dim=1)
        if self.ignore_index is not None:
            inputs = inputs.masked_fill(inputs == self.ignore_index, self.network.unknown_index)
        if self.word_dropout > 0 and self.network.training:
            # Word dropout (Bowman et al. 2016): weaken the teacher so the decoder must use z. (< or <=: equivalent.)
            drop = torch.rand_like(inputs, dtype=torch.float) < self.word_dropout  # pragma: no mutate (equivalent)
            drop[:, 0] = False
            inputs = inputs.masked_fill(drop, self.network.unknown_index)
        return inputs

    def _flat(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.long().expand(*self.batch_shape, self.length)
        return x.reshape(-1, self.length), self.context.reshape(-1, self.context.shape[-1])  # (N, T), (N, C)

    def logits(self, x: Tensor) -> Tensor:
        """Teacher-forced next-token logits for targets ``x`` broadcastable to (*batch, T): (*batch, T, V)."""
        flat_x, flat_c = self._flat(x)
        out = self.network(flat_c, self._shift_right(flat_x))  # (N, T, V)
        return out.view(*self.batch_shape, self.length, out.shape[-1])

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x|z) summed over the tokens before the first padding id: (*batch,)."""
        flat_x, flat_c = self._flat(x)
        if self.ignore_index is None:
            logp = self.network(flat_c, self._shift_right(flat_x)).float().log_softmax(-1)  # (N, T, V)
            return logp.gather(-1, flat_x[..., None])[..., 0].sum(1).view(self.batch_shape)  # (N, T) -> (N,)
        lengths = sequence_lengths(flat_x, self.ignore_index)  # (N,)
        used = max(int(lengths.max()), 1)  # columns past the longest sequence are all padding
        inputs = self._shift_right(flat_x)[:, :used]
        positions = torch.arange(used, device=x.device)  # pragma: no mutate (device= is equivalent on CPU)
        real = positions < lengths[:, None]  # (N, used)
        h = self.network.features(flat_c, inputs, lengths)  # pragma: no mutate (equivalent: lengths only skip padding)
        h = h[real]  # (M, H): real positions only
        targets = flat_x[:, :used][real]  # (M,)
        # Without gradients (evaluation, importance sampling with many z) the (M, V) logits are made
        # a block at a time, so memory stays bounded whatever the number of sequences.
        step = h.shape[0] if torch.is_grad_enabled() else PROJECTION_BLOCK  # pragma: no mutate (memory only)
        picked = (
            torch.cat(
                [
                    -F.cross_entropy(
                        self.network.project(h[i : i + step]).float(), targets[i : i + step], reduction="none"
                    )
                    for i in range(0, h.shape[0], step)
                ]
            )
            if h.shape[0]
            else h.new_zeros(0)
        )  # (M,)
        rows = torch.arange(flat_x.shape[0], device=x.device)  # pragma: no mutate (device= is equivalent on CPU)
        rows = rows[:, None].expand_as(real)[real]  # (M,): the sequence of each real position
        total = picked.new_zeros(flat_x.shape[0]).index_add(0, rows, picked)
        return total.view(self.batch_shape)

    def decode(self, options: DecodeOptions | None = None, generator: torch.Generator | None = None) -> Tensor:
        """One decoded sequence per context row (greedy, sampling or beam search): (*batch, T) token ids."""
        flat_c = self.context.reshape(-1, self.context.shape[-1])
        fill = self.ignore_index  # after the end token; None: decode_tokens fills with the end token itself
        vocab = self.network.vocab_size
        banned = [self.ignore_index] if self.ignore_index is not None and 0 <= self.ignore_index < vocab else []
        tokens = decode_tokens(self.network, flat_c, self.length, options, self.end_index, fill, generator, banned)
        return tokens.view(*self.batch_shape, self.length)

    @property
    def mean(self) -> Tensor:
        """The greedy decoding (most likely token at each step): (*batch, T) token ids."""
        return self.decode(DecodeOptions("greedy"))

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Ancestral samples, (*sample_shape, *batch, T) token ids."""
        shape = torch.Size(sample_shape) + self.batch_shape
        context = self.context.expand(*shape, self.context.shape[-1])
        again = AutoregressiveSequence(
            self.network, context, self.length, self.ignore_index, self.word_dropout, self.end_index
        )
        return again.decode(DecodeOptions("sample"))


@register("likelihood", "autoregressive")
class AutoregressiveLikelihood(Likelihood):
    """Autoregressive categorical likelihood over sequences of ``length`` tokens.

    The VAE's decoder must output a context of ``network.context_dim`` values per example
    (``param_shape`` says so to builders).

    Args:
        network: an autoregressive network (``build("sequence_decoder", ...)``).
        length: tokens per sequence (the data shape is ``[length]``).
        ignore_index: padding id, masked out of the likelihood (e.g. -100 or a reserved id).
        word_dropout: probability of hiding each teacher-forced input token during training.
        end_index: token that ends a generated sequence (None: generation runs to ``length``).
    """

    def __init__(
        self,
        network: AutoregressiveNetwork,
        length: int,
        ignore_index: int | None = None,
        word_dropout: float = 0.0,
        end_index: int | None = None,
    ):
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        self.network = network
        self.length = int(length)
        self.ignore_index = ignore_index
        self.word_dropout = float(word_dropout)
        self.end_index = end_index
        self.discrete_levels = network.vocab_size

    def param_shape(self, data_shape: Sequence[int]) -> tuple[int, ...]:
        if list(data_shape) != [self.length]:
            raise ValueError(f"this likelihood models sequences of shape [{self.length}], got {list(data_shape)}")
        return (self.network.context_dim,)

    def check_data(self, x: Tensor) -> None:
        if x.is_floating_point():
            raise ValueError("an autoregressive sequence likelihood needs integer token ids, got floats")
        valid = (x >= 0) & (x < self.network.vocab_size)
        if self.ignore_index is not None:
            valid |= x == self.ignore_index
        if not bool(valid.all()):
            raise ValueError(
                f"token ids must lie in 0..{self.network.vocab_size - 1}"
                + (f" or be the padding id {self.ignore_index}" if self.ignore_index is not None else "")
            )

    def forward(self, params: Tensor, data_ndim: int) -> Distribution:
        if data_ndim != 1:
            raise ValueError(f"sequences have one data dimension, got {data_ndim}")
        return AutoregressiveSequence(
            self.network, params, self.length, self.ignore_index, self.word_dropout, self.end_index
        )
