"""An autoregressive likelihood over token sequences: p(x|z) = prod_t p(x_t | x_<t, z).

In the VAE composition the decoder maps z to a context vector, and this likelihood holds
the autoregressive network (``vaekit.nn.sequence``) that turns the context into a
distribution over whole sequences. ``log_prob`` uses teacher forcing (the true previous
tokens) and the per-token categorical of :class:`CategoricalImage`, whose ``ignore_index``
masks padding; ``sample`` draws tokens one at a time and ``mean`` decodes greedily.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution

from vaekit.distributions.likelihoods import CategoricalImage, Likelihood
from vaekit.nn.sequence import AutoregressiveNetwork
from vaekit.registry import register


class AutoregressiveSequence(Distribution):
    """A distribution over sequences of ``length`` tokens, one per context row.

    Args:
        network: the autoregressive network.
        context: (*batch, C) context vectors.
        length: tokens per sequence.
        ignore_index: padding id masked out of ``log_prob``.
        word_dropout: probability of replacing each teacher-forced input by the unknown token.
    """

    arg_constraints: dict = {}

    def __init__(
        self,
        network: AutoregressiveNetwork,
        context: Tensor,
        length: int,
        ignore_index: int | None = None,
        word_dropout: float = 0.0,
    ):
        self.network, self.context, self.length = network, context, int(length)
        self.ignore_index, self.word_dropout = ignore_index, float(word_dropout)
        super().__init__(batch_shape=context.shape[:-1], validate_args=False)

    def _shift_right(self, x: Tensor) -> Tensor:
        """(N, T) targets -> (N, T) inputs: start token, then x_0..x_{T-2}, padding made harmless."""
        inputs = x.roll(1, dims=-1)
        inputs[:, 0] = self.network.start_index
        if self.ignore_index is not None:
            inputs = inputs.masked_fill(inputs == self.ignore_index, self.network.unknown_index)
        if self.word_dropout > 0 and self.network.training:
            # Word dropout (Bowman et al. 2016): weaken the teacher so the decoder must use z.
            drop = torch.rand(inputs.shape, device=inputs.device) < self.word_dropout
            drop[:, 0] = False
            inputs = inputs.masked_fill(drop, self.network.unknown_index)
        return inputs

    def logits(self, x: Tensor) -> Tensor:
        """Teacher-forced next-token logits for targets ``x`` broadcastable to (*batch, T): (*batch, T, V)."""
        batch = self.batch_shape
        x = x.long().expand(*batch, self.length)
        flat_x = x.reshape(-1, self.length)  # (N, T)
        flat_c = self.context.reshape(-1, self.context.shape[-1])  # (N, C)
        out = self.network(flat_c, self._shift_right(flat_x))  # (N, T, V)
        return out.view(*batch, self.length, out.shape[-1])

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x|z) summed over the non-padding tokens: (*batch,)."""
        logits = self.logits(x)
        return CategoricalImage(logits, 1, self.ignore_index, as_index=True).log_prob(x.long())

    @torch.no_grad()
    def _generate(self, greedy: bool, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        context = self.context.expand(*shape, self.context.shape[-1]).reshape(-1, self.context.shape[-1])
        n = context.shape[0]
        inputs = torch.full((n, 1), self.network.start_index, dtype=torch.long, device=context.device)
        tokens = []
        for t in range(self.length):
            # Re-running the prefix each step keeps one interface for every network (sequences are short).
            step_logits = self.network(context, inputs)[:, t]  # (N, V)
            token = step_logits.argmax(-1) if greedy else Categorical(logits=step_logits).sample()
            tokens.append(token)
            inputs = torch.cat([inputs, token[:, None]], 1)
        return torch.stack(tokens, 1).view(*shape, self.length)

    @property
    def mean(self) -> Tensor:
        """The greedy decoding (most likely token at each step): (*batch, T) token ids."""
        return self._generate(greedy=True)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Ancestral samples, (*sample_shape, *batch, T) token ids."""
        return self._generate(greedy=False, sample_shape=sample_shape)


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
    """

    def __init__(
        self, network: AutoregressiveNetwork, length: int, ignore_index: int | None = None, word_dropout: float = 0.0
    ):
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        self.network = network
        self.length = int(length)
        self.ignore_index = ignore_index
        self.word_dropout = float(word_dropout)
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
        return AutoregressiveSequence(self.network, params, self.length, self.ignore_index, self.word_dropout)
