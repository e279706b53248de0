"""Networks for token sequences: a recurrent encoder, and autoregressive decoders (recurrent and
a small causal Transformer) that predict each token from the ones before it and a context vector.

Sequences are integer tensors (B, T) of token ids in 0..vocab_size-1. A padding id (any
value, e.g. -100 or a reserved token) marks positions after the end; the encoder stops
reading at the first one, and the likelihood masks them out of log p(x|z).

The decoders share one interface, ``forward(context (N, C), inputs (N, T)) -> logits (N, T, V)``,
where ``inputs`` are the tokens shifted right: position t sees tokens 0..t-1 and predicts token t;
``step`` feeds one token at a time for decoding (:mod:`vaekit.decoding`). Decoders are chosen
by name from the ``sequence_decoder`` registry (:func:`sequence_decoder_spec`).
Two extra input ids exist beside the vocabulary: ``vocab_size`` (start of sequence) and
``vocab_size + 1`` (unknown, used by word dropout).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.registry import ConfigError, Part, register, registered

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def _cell(name: str) -> type[nn.RNNBase]:
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown recurrent cell {name!r}; valid: {sorted(CELLS)}") from None


def sequence_lengths(tokens: Tensor, pad_index: int | None) -> Tensor:
    """Number of tokens before the first ``pad_index`` in each row of (B, T): (B,)."""
    if pad_index is None:
        return torch.full(tokens.shape[:1], tokens.shape[1], dtype=torch.long, device=tokens.device)
    is_pad = tokens == pad_index  # (B, T)
    first_pad = is_pad.long().argmax(1)  # 0 when there is no padding at all
    return torch.where(is_pad.any(1), first_pad, torch.full_like(first_pad, tokens.shape[1]))


@register("encoder", "recurrent")
class RecurrentEncoder(Part):
    """Embeds tokens and runs a (bidirectional) GRU or LSTM; the features are the final states.

    Args:
        vocab_size: number of token ids.
        embed_dim: embedding width.
        hidden: state width per direction.
        cell: "gru" or "lstm".
        layers: stacked recurrent layers.
        bidirectional: read the sequence both ways (features are twice as wide).
        pad_index: padding id; the encoder stops at the first one in each row.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 32,
        hidden: int = 128,
        cell: str = "gru",
        layers: int = 1,
        bidirectional: bool = True,
        pad_index: int | None = None,
    ):
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.pad_index = pad_index
        self.embed = nn.Embedding(self.vocab_size, int(embed_dim))
        self.rnn = _cell(cell)(int(embed_dim), int(hidden), int(layers), batch_first=True, bidirectional=bidirectional)
        self.out_features = int(hidden) * (2 if bidirectional else 1)

    def forward(self, tokens: Tensor) -> Tensor:
        tokens = tokens.long()  # the VAE hands integer data to encoders as floats
        lengths = sequence_lengths(tokens, self.pad_index).clamp_min(1)  # (B,)
        safe = tokens.clamp(0, self.vocab_size - 1)  # padding ids are outside the table
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(safe), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H)
        directions = 2 if self.rnn.bidirectional else 1
        return h[-directions:].transpose(0, 1).reshape(tokens.shape[0], -1)  # (B, out_features)


class AutoregressiveNetwork(Part):
    """Base of the autoregressive decoders.

    A decoder is two halves so that padding costs no output-layer compute: ``features(context,
    inputs, lengths) -> (N, T, H)`` and ``project(h (..., H)) -> logits (..., V)``; the likelihood
    projects only the real (non-padding) positions. ``forward`` is both at once. Decoding goes one
    token at a time through ``step`` with a state that ``reorder_state`` rearranges (beam search);
    the default state is the prefix read so far, re-run each step (right for any network), and the
    recurrent decoder overrides it with its hidden state.
    """

    vocab_size: int
    context_dim: int

    @property
    def start_index(self) -> int:
        """Input id of the start-of-sequence token."""
        return self.vocab_size

    @property
    def unknown_index(self) -> int:
        """Input id of the unknown token (what word dropout substitutes)."""
        return self.vocab_size + 1

    def features(
        self, context: Tensor, inputs: Tensor, lengths: Tensor | None = None
    ) -> Tensor:  # pragma: no cover - abstract
        """Hidden features (N, T, H) of inputs (N, T); ``lengths`` (N,) may let a network skip padding."""
        raise NotImplementedError

    def project(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Next-token logits (..., V) from features (..., H)."""
        raise NotImplementedError

    def forward(self, context: Tensor, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits (N, T, V): position t has seen the context and inputs 0..t."""
        return self.project(self.features(context, inputs, lengths))

    # ---------------------------------------------------------------- decoding
    def start_state(self, context: Tensor) -> Any:
        """The decoding state before the first token (the default: an empty prefix)."""
        return context.new_zeros((context.shape[0], 0), dtype=torch.long)

    def step(self, context: Tensor, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        """Feed one input token per row (N,); return next-token logits (N, V) and the new state."""
        prefix = torch.cat([state, token[:, None]], 1)  # (N, t+1)
        return self.forward(context, prefix)[:, -1], prefix

    def reorder_state(self, state: Any, index: Tensor) -> Any:
        """The state of rows ``index`` (beam search keeps the best hypotheses)."""
        return state.index_select(0, index)


def _pack(x: Tensor, lengths: Tensor | None) -> Any:
    if lengths is None:
        return x
    return nn.utils.rnn.pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)


@register("sequence_decoder", "recurrent")
class RecurrentTokenDecoder(AutoregressiveNetwork):
    """A GRU/LSTM language model conditioned on a context (Bowman et al. 2016).

    The context sets the initial state (``context_init``), is fed beside every input token
    (``context_every_step``), or both. Padded positions are skipped with packed sequences.

    Args:
        vocab_size: number of token ids it predicts.
        context_dim: width of the context vector (the VAE decoder's output).
        embed_dim: token embedding width.
        hidden: state width.
        cell: "gru" or "lstm".
        layers: stacked recurrent layers.
        context_every_step: feed the context beside each input token (a stronger use of z).
        context_init: set the initial state from the context (otherwise it starts at zero).
        dropout: dropout on the embeddings and on the outputs before the projection.
    """

    def __init__(
        self,
        vocab_size: int,
        context_dim: int,
        embed_dim: int = 32,
        hidden: int = 128,
        cell: str = "gru",
        layers: int = 1,
        context_every_step: bool = False,
        context_init: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if not (context_every_step or context_init):
            raise ValueError("the context must enter somewhere: set context_init or context_every_step")
        self.vocab_size, self.context_dim = int(vocab_size), int(context_dim)
        self.layers, self.hidden = int(layers), int(hidden)
        self.context_every_step, self.context_init = bool(context_every_step), bool(context_init)
        self.is_lstm = cell == "lstm"
        self.embed = nn.Embedding(self.vocab_size + 2, int(embed_dim))
        self.drop = nn.Dropout(float(dropout))
        width = int(embed_dim) + (self.context_dim if self.context_every_step else 0)
        self.rnn = _cell(cell)(width, self.hidden, self.layers, batch_first=True)
        self.init_state = nn.Linear(self.context_dim, self.layers * self.hidden) if self.context_init else None
        self.out = nn.Linear(self.hidden, self.vocab_size)

    def start_state(self, context: Tensor) -> Any:
        n = context.shape[0]
        if self.init_state is None:
            h0 = context.new_zeros(self.layers, n, self.hidden)
        else:
            h0 = torch.tanh(self.init_state(context)).view(n, self.layers, self.hidden).transpose(0, 1).contiguous()
        return (h0, torch.zeros_like(h0)) if self.is_lstm else h0  # (layers, N, H)

    def _inputs(self, context: Tensor, inputs: Tensor) -> Tensor:
        embedded = self.drop(self.embed(inputs))  # (N, T, E)
        if self.context_every_step:
            n, length = inputs.shape
            embedded = torch.cat([embedded, context[:, None, :].expand(n, length, self.context_dim)], -1)
        return embedded

    def features(self, context: Tensor, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        output, _ = self.rnn(_pack(self._inputs(context, inputs), lengths), self.start_state(context))
        if lengths is not None:
            output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=inputs.shape[1])
        return output  # (N, T, H); zeros after each row's length when packed

    def project(self, h: Tensor) -> Tensor:
        return self.out(self.drop(h))

    def step(self, context: Tensor, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        output, state = self.rnn(self._inputs(context, token[:, None]), state)  # (N, 1, H)
        return self.project(output[:, 0]), state

    def reorder_state(self, state: Any, index: Tensor) -> Any:
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


@register("sequence_decoder", "hierarchical")
class HierarchicalTokenDecoder(AutoregressiveNetwork):
    """MusicVAE's hierarchical decoder (Roberts et al. 2018): a "conductor" RNN reads the context and
    emits one embedding per bar (segment of ``steps_per_bar`` tokens); a recurrent bar decoder
    (:class:`RecurrentTokenDecoder`) generates each bar from its embedding alone, its state reset
    at every bar line, so long sequences cannot ignore z by leaning on the previous bars' state.
    Inputs stay the previous tokens across bar lines.

    Args:
        vocab_size: number of token ids it predicts.
        context_dim: width of the context vector.
        max_length: longest sequence (the number of bars is ``ceil(max_length / steps_per_bar)``).
        steps_per_bar: tokens per bar.
        conductor_hidden: width of the conductor's state (and of the bar embeddings).
        embed_dim, hidden, cell, layers, dropout: the bar decoder's (as :class:`RecurrentTokenDecoder`);
            it sees its bar's embedding in its initial state and beside every input token.
    """

    def __init__(
        self,
        vocab_size: int,
        context_dim: int,
        max_length: int,
        steps_per_bar: int = 16,
        conductor_hidden: int = 128,
        embed_dim: int = 32,
        hidden: int = 128,
        cell: str = "lstm",
        layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.vocab_size, self.context_dim = int(vocab_size), int(context_dim)
        self.steps_per_bar = int(steps_per_bar)
        if self.steps_per_bar < 1:
            raise ValueError(f"steps_per_bar must be at least 1, got {steps_per_bar}")
        self.bars = -(-int(max_length) // self.steps_per_bar)
        self.is_lstm = cell == "lstm"
        width = int(conductor_hidden)
        self.conductor_init = nn.Linear(self.context_dim, layers * width)
        self.conductor = _cell(cell)(self.context_dim, width, int(layers), batch_first=True)
        self.bar = RecurrentTokenDecoder(self.vocab_size, width, embed_dim, hidden, cell, layers, True, True, dropout)

    def bar_embeddings(self, context: Tensor) -> Tensor:
        """The conductor's output, one embedding per bar: (N, bars, conductor_hidden)."""
        n = context.shape[0]
        layers, width = self.conductor.num_layers, self.conductor.hidden_size
        h0 = torch.tanh(self.conductor_init(context)).view(n, layers, width).transpose(0, 1).contiguous()
        state = (h0, torch.zeros_like(h0)) if self.is_lstm else h0
        steps = context[:, None, :].expand(n, self.bars, self.context_dim)  # z at every bar
        output, _ = self.conductor(steps, state)
        return output

    def features(self, context: Tensor, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        n, length = inputs.shape
        s, bars = self.steps_per_bar, -(-inputs.shape[1] // self.steps_per_bar)
        if bars > self.bars:
            raise ValueError(f"sequence of length {length} exceeds this decoder's {self.bars} bars")
        # Pad to whole bars (causal within a bar, so padding after the end changes nothing before it).
        padded = nn.functional.pad(inputs, (0, bars * s - length), value=self.unknown_index)
        per_bar = self.bar_embeddings(context)[:, :bars].reshape(n * bars, -1)  # (N*bars, Hc)
        bar_lengths = None
        if lengths is not None:
            offsets = torch.arange(bars, device=lengths.device) * s
            bar_lengths = (lengths[:, None] - offsets).clamp(0, s).reshape(-1)  # (N*bars,)
        h = self.bar.features(per_bar, padded.reshape(n * bars, s), bar_lengths)  # (N*bars, s, H)
        return h.reshape(n, bars * s, -1)[:, :length]

    def project(self, h: Tensor) -> Tensor:
        return self.bar.project(h)

    # Decoding state: (next position, bar embeddings (N, bars, Hc), bar decoder state).
    def start_state(self, context: Tensor) -> Any:
        return (0, self.bar_embeddings(context), None)

    def step(self, context: Tensor, token: Tensor, state: Any) -> tuple[Tensor, Any]:
        position, embeddings, bar_state = state
        bar = embeddings[:, min(position // self.steps_per_bar, self.bars - 1)]  # (N, Hc)
        if position % self.steps_per_bar == 0:
            bar_state = self.bar.start_state(bar)  # a new bar starts from its own embedding
        logits, bar_state = self.bar.step(bar, token, bar_state)
        return logits, (position + 1, embeddings, bar_state)

    def reorder_state(self, state: Any, index: Tensor) -> Any:
        position, embeddings, bar_state = state
        bar_state = None if bar_state is None else self.bar.reorder_state(bar_state, index)
        return (position, embeddings.index_select(0, index), bar_state)


@register("sequence_decoder", "transformer")
class CausalTransformerDecoder(AutoregressiveNetwork):
    """A small causal Transformer: the context enters as an extra first position that every
    token attends to; learned position embeddings up to ``max_length``.

    Args:
        vocab_size: number of token ids it predicts.
        context_dim: width of the context vector.
        max_length: longest sequence.
        d_model: model width.
        heads: attention heads.
        layers: Transformer layers.
        dropout: dropout inside the layers.
    """

    def __init__(
        self,
        vocab_size: int,
        context_dim: int,
        max_length: int = 64,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.vocab_size, self.context_dim, self.max_length = int(vocab_size), int(context_dim), int(max_length)
        self.embed = nn.Embedding(self.vocab_size + 2, int(d_model))
        self.position = nn.Embedding(self.max_length + 1, int(d_model))
        self.project_context = nn.Linear(self.context_dim, int(d_model))
        layer = nn.TransformerEncoderLayer(
            int(d_model), int(heads), 4 * int(d_model), dropout, batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, int(layers), enable_nested_tensor=False)
        self.norm = nn.LayerNorm(int(d_model))
        self.out = nn.Linear(int(d_model), self.vocab_size)

    def features(self, context: Tensor, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        # Causal attention never lets a real position see a later (padding) one: lengths are not needed.
        n, length = inputs.shape
        if length > self.max_length:
            raise ValueError(f"sequence of length {length} exceeds this decoder's max_length {self.max_length}")
        h = torch.cat([self.project_context(context)[:, None, :], self.embed(inputs)], 1)  # (N, T+1, d)
        h = h + self.position(torch.arange(length + 1, device=inputs.device))
        mask = nn.Transformer.generate_square_subsequent_mask(length + 1, device=inputs.device)
        h = self.norm(self.body(h, mask=mask, is_causal=True))
        return h[:, 1:]  # (N, T, d): position t+1 has seen the context and inputs 0..t

    def project(self, h: Tensor) -> Tensor:
        return self.out(h)


def sequence_decoder_spec(
    spec: str | dict[str, Any], vocab_size: int, context_dim: int, max_length: int, **shared: Any
) -> dict[str, Any]:
    """A full ``sequence_decoder`` config from a name or partial config.

    ``vocab_size``, ``context_dim`` and ``max_length`` are filled in, and each of the ``shared``
    model-wide options (e.g. ``hidden=256, cell="gru"``) where the registered decoder takes an
    argument of that name and the spec does not set it; so a new decoder only has to register.
    """
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    table = registered("sequence_decoder")
    name = spec.get("type")
    if name not in table:
        raise ConfigError(f"unknown sequence decoder {name!r}; valid sequence decoders: {sorted(table)}")
    takes = inspect.signature(table[name].__init__).parameters
    fixed = {"vocab_size": vocab_size, "context_dim": context_dim, "max_length": max_length}
    for key, value in {**shared, **fixed}.items():
        if key in takes and (key in fixed or key not in spec):
            spec[key] = value
    return spec
