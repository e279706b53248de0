"""Decoding token sequences from an autoregressive network: greedy, sampling (temperature, top-k,
top-p) and beam search, each with a length limit and an optional end token.

Every function takes an :class:`vaekit.nn.sequence.AutoregressiveNetwork` and one context row per
sequence, and feeds the network one token at a time through its ``step``/``reorder_state``
interface, so a network with an incremental state (a recurrent decoder) decodes in linear time.
The result is a (N, max_length) tensor of token ids; after a row's end token (which is kept) every
position holds ``fill_value``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from vaekit.nn.sequence import AutoregressiveNetwork


class TokenGrammar(Protocol):
    """A syntax the decoder keeps to (e.g. :class:`vaekit.data.smiles_grammar.SmilesGrammar`): a state per
    sequence, held as one tensor so that beam search reorders it with the hypotheses."""

    def start(self, n: int, device: torch.device | str = "cpu", max_length: int | None = None) -> Tensor:
        """The state of ``n`` empty sequences (first dimension n) that end within ``max_length`` tokens."""
        ...

    def allowed(self, state: Tensor) -> Tensor:
        """(N, V) bool: the tokens each sequence may produce next (the end token included)."""
        ...

    def advance(self, state: Tensor, token: Tensor) -> Tensor:
        """The states after producing ``token`` (N,)."""
        ...


@dataclass
class DecodeOptions:
    """How to turn next-token distributions into a sequence.

    Attributes:
        method: "greedy", "sample" or "beam".
        temperature: divides the logits before sampling (below 1: safer, above 1: more varied).
        top_k: sample among the k most likely tokens only (None: all).
        top_p: sample among the smallest set of tokens whose probability reaches p (nucleus; None: all).
        beam: beam width of beam search.
        min_length: the end token is not allowed before this many tokens (e.g. 1 where an empty string is
            never a valid output, as for molecules).
        never_first: token ids never produced as the first token (e.g. molecule symbols that cannot begin one).
        grammar: a syntax every sequence keeps to (None: any token anywhere).
    """

    method: str = "greedy"
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    beam: int = 4
    min_length: int = 0
    never_first: tuple[int, ...] = ()
    grammar: TokenGrammar | None = None

    def __post_init__(self) -> None:
        if self.method not in ("greedy", "sample", "beam"):
            raise ValueError(f"unknown decoding method {self.method!r}; valid: ['beam', 'greedy', 'sample']")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.beam < 1:
            raise ValueError(f"beam must be at least 1, got {self.beam}")
        if self.min_length < 0:
            raise ValueError(f"min_length must be >= 0, got {self.min_length}")


def filter_logits(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Logits (N, V) scaled by 1/temperature with tokens outside the top-k / top-p sets set to -inf."""
    logits = logits.float() / max(temperature, 1e-8)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(int(top_k), dim=-1).values[:, -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        ordered, order = logits.sort(-1, descending=True)
        probs = ordered.softmax(-1)
        # Drop a token when the tokens before it already reach top_p (the most likely one always stays).
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def fill_after_end(tokens: Tensor, end_index: int | None, fill_value: int, length: int) -> Tensor:
    """(N, T) tokens -> (N, length): positions after each row's first end token (and beyond T) hold ``fill_value``."""
    if end_index is not None:
        ended = (tokens == end_index).long().cumsum(1)  # (N, T): >= 1 from the end token on
        after = (ended - (tokens == end_index).long()) > 0  # strictly after the first end token
        tokens = tokens.masked_fill(after, fill_value)
    if tokens.shape[1] < length:
        tokens = torch.cat([tokens, tokens.new_full((tokens.shape[0], length - tokens.shape[1]), fill_value)], 1)
    return tokens


def _ban(logits: Tensor, banned: Sequence[int]) -> Tensor:
    """Logits with the ``banned`` tokens (e.g. the padding id, which is never a real token) set to -inf."""
    if not banned:
        return logits
    return logits.index_fill(-1, torch.tensor(list(banned), device=logits.device), float("-inf"))


def _banned_at(
    step: int, banned: Sequence[int], end_index: int | None, min_length: int, never_first: Sequence[int]
) -> Sequence[int]:
    """The tokens banned at ``step`` (0-based): ``banned``; the end token while fewer than ``min_length`` tokens
    were made; ``never_first`` at the first step."""
    if end_index is not None and step < min_length:
        banned = (*banned, end_index)
    if step == 0:
        banned = (*banned, *never_first)
    return banned


def _keep_to(logits: Tensor, grammar: TokenGrammar | None, state: Tensor | None) -> Tensor:
    """``logits`` with the tokens the grammar forbids (in each row's state) set to -inf."""
    if grammar is None:
        return logits
    return logits.masked_fill(~grammar.allowed(state), float("-inf"))


def _fill(end_index: int | None, fill_value: int | None) -> int:
    if fill_value is not None:
        return int(fill_value)
    return 0 if end_index is None else int(end_index)


@torch.no_grad()
def sample_tokens(
    network: AutoregressiveNetwork,
    context: Tensor,
    max_length: int,
    end_index: int | None = None,
    fill_value: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    banned: Sequence[int] = (),
    min_length: int = 0,
    never_first: Sequence[int] = (),
    grammar: TokenGrammar | None = None,
) -> Tensor:
    """Ancestral sampling (or greedy decoding) of one sequence per context row.

    Args:
        network: the autoregressive network.
        context: (N, C) context vectors.
        max_length: most tokens per sequence (the end token included).
        end_index: token that ends a sequence (None: always ``max_length`` tokens).
        fill_value: id written after the end (default: the end token, or 0).
        temperature, top_k, top_p: see :class:`DecodeOptions`; temperature 0 is greedy.
        greedy: take the most likely token at every step.
        generator: random generator for reproducible draws.
        banned: tokens never produced (e.g. the padding id).
        min_length: no end token before this many tokens.
        never_first: tokens never produced first.
        grammar: a syntax every sequence keeps to.

    Returns:
        (N, max_length) token ids.
    """
    n = context.shape[0]
    state = network.start_state(context)
    syntax = grammar.start(n, context.device, int(max_length)) if grammar is not None else None
    token = torch.full((n,), network.start_index, dtype=torch.long, device=context.device)
    done = torch.zeros(n, dtype=torch.bool, device=context.device)
    out = []
    for step in range(int(max_length)):
        logits, state = network.step(context, token, state)  # (N, V)
        logits = _ban(logits, _banned_at(step, banned, end_index, min_length, never_first))
        logits = _keep_to(logits, grammar, syntax)
        if greedy or temperature == 0:
            token = logits.argmax(-1)
        else:
            probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)
            token = torch.multinomial(probs, 1, generator=generator)[:, 0]
        if grammar is not None:
            syntax = grammar.advance(syntax, token)
        out.append(token)
        if end_index is not None:
            done |= token == end_index
            if bool(done.all()):
                break
    tokens = torch.stack(out, 1) if out else context.new_zeros((n, 0), dtype=torch.long)
    return fill_after_end(tokens, end_index, _fill(end_index, fill_value), int(max_length))


def greedy_tokens(
    network: AutoregressiveNetwork,
    context: Tensor,
    max_length: int,
    end_index: int | None = None,
    fill_value: int | None = None,
    banned: Sequence[int] = (),
    min_length: int = 0,
    never_first: Sequence[int] = (),
    grammar: TokenGrammar | None = None,
) -> Tensor:
    """Greedy decoding: the most likely next token at each step. (N, max_length) token ids."""
    return sample_tokens(
        network, context, max_length, end_index, fill_value, greedy=True, banned=banned, min_length=min_length,
        never_first=never_first, grammar=grammar,
    )  # fmt: skip


@torch.no_grad()
def beam_search(
    network: AutoregressiveNetwork,
    context: Tensor,
    max_length: int,
    beam: int = 4,
    end_index: int | None = None,
    fill_value: int | None = None,
    banned: Sequence[int] = (),
    min_length: int = 0,
    never_first: Sequence[int] = (),
    grammar: TokenGrammar | None = None,
) -> Tensor:
    """The most likely sequence found by beam search (sum of token log-probabilities), per context row.

    A hypothesis that has produced the end token is finished: it continues with the end token at
    no cost, so it competes with the open ones on its final score. With ``beam=1`` this is greedy
    decoding. No hypothesis ends before ``min_length`` tokens or starts with a ``never_first`` token, and every
    one keeps to ``grammar``.

    Returns:
        (N, max_length) token ids.
    """
    n, vocab = context.shape[0], network.vocab_size
    contexts = context.repeat_interleave(beam, 0)  # (N*K, C)
    state = network.start_state(contexts)
    syntax = grammar.start(n * beam, context.device, int(max_length)) if grammar is not None else None
    token = torch.full((n * beam,), network.start_index, dtype=torch.long, device=context.device)
    scores = torch.full((n, beam), float("-inf"), device=context.device)
    scores[:, 0] = 0.0  # all beams start identical: keep one so the first step does not pick duplicates
    finished = torch.zeros(n * beam, dtype=torch.bool, device=context.device)
    tokens = torch.zeros((n * beam, 0), dtype=torch.long, device=context.device)
    if end_index is not None:
        stay = torch.full((vocab,), float("-inf"), device=context.device)
        stay[end_index] = 0.0  # (V,): a finished hypothesis repeats the end token for free
    rows = torch.arange(n, device=context.device)[:, None] * beam  # (N, 1)
    for step in range(int(max_length)):
        logits, state = network.step(contexts, token, state)
        logp = _ban(
            logits.float().log_softmax(-1), _banned_at(step, banned, end_index, min_length, never_first)
        )  # (N*K, V)
        logp = _keep_to(logp, grammar, syntax)
        if end_index is not None:
            logp = torch.where(finished[:, None], stay, logp)
        candidates = (scores.reshape(-1, 1) + logp).view(n, beam * vocab)
        scores, index = candidates.topk(beam, dim=1)  # (N, K), best first
        origin = (rows + index // vocab).reshape(-1)  # (N*K,) rows the survivors extend
        token = (index % vocab).reshape(-1)
        state = network.reorder_state(state, origin)
        if grammar is not None:
            syntax = grammar.advance(syntax.index_select(0, origin), token)
        tokens = torch.cat([tokens.index_select(0, origin), token[:, None]], 1)
        finished = finished.index_select(0, origin)
        if end_index is not None:
            finished |= token == end_index
            if bool(finished.all()):
                break
    best = tokens.view(n, beam, -1)[:, 0]  # (N, T): topk keeps the best hypothesis first
    return fill_after_end(best, end_index, _fill(end_index, fill_value), int(max_length))


def decode_tokens(
    network: AutoregressiveNetwork,
    context: Tensor,
    max_length: int,
    options: DecodeOptions | None = None,
    end_index: int | None = None,
    fill_value: int | None = None,
    generator: torch.Generator | None = None,
    banned: Sequence[int] = (),
) -> Tensor:
    """Decode one sequence per context row with ``options`` (greedy by default): (N, max_length)."""
    options = options or DecodeOptions()
    if options.method == "beam":
        return beam_search(
            network, context, max_length, options.beam, end_index, fill_value, banned, options.min_length,
            options.never_first, options.grammar,
        )  # fmt: skip
    return sample_tokens(
        network,
        context,
        max_length,
        end_index,
        fill_value,
        options.temperature,
        options.top_k,
        options.top_p,
        greedy=options.method == "greedy",
        generator=generator,
        banned=banned,
        min_length=options.min_length,
        never_first=options.never_first,
        grammar=options.grammar,
    )
