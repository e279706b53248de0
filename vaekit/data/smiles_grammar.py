"""SMILES syntax as a decoding constraint: a sampler that follows it only writes strings whose branches and ring
closures pair up, with no bond, branch or ring digit out of place.

The state of each sequence is a row of integers, so a batch of them is one tensor that beam search can reorder
like any other state. It numbers the atoms and holds the current atom, the atom it hangs from, a stack of branch
points and, for each ring label, the atom that opened it. A ring may not close at the atom that opened it or at
one bonded to that atom (``C11``, ``C1C1`` and ``C12CC12`` bond two atoms twice); a ring whose opening carried a
bond symbol may not close with another (which could contradict it). Near the length limit only symbols that
close a branch or a ring, end the string, or (where nothing can close yet) an atom are allowed, so a string
finishes before it is cut off.

Syntax is not chemistry: a string can still break a valence or an aromatic ring, which RDKit then rejects.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

from vaekit.data.molecule_tokenizers import SMILES_ATOM

# Symbol kinds; START is the state before the first symbol, OTHER a symbol the grammar never writes.
START, ATOM, BOND, OPEN, CLOSE, RING, DOT, END, OTHER = range(9)
BRANCH_BOND = 9  # a state, not a symbol: the bond that begins a branch, which only an atom may follow
_BONDS = frozenset("-=#$:/\\")
_RING = re.compile(r"\d|%\d{2}")
_MAX_RING_LABELS = 62  # bits of the int64 label masks (one spare for the sign)
MAX_DEPTH = 8  # nested branches (MOSES molecules use at most 4)
# Columns of the state: the last symbol's kind, the branch depth, the current atom and the one it hangs from (-1:
# none), the next atom's number, the labels opened with a bond symbol and those the current atom may no longer
# close (bit masks), the open rings, the symbols left; then the branch points, then each label's opening atom.
KIND, DEPTH, CURRENT, PARENT, NEXT, BONDED, TAKEN, RINGS, LEFT = range(9)
STACK = 9
_UNLIMITED = 1 << 40
# Finishing takes one symbol per open branch, up to three per open ring (a ring opened at the current atom or at
# its parent needs two more atoms before its digit), the end, and an atom after a bond or "(". Closing begins
# while the next symbol, whatever it opens (a ring: four more), still leaves room for all of that.
_CLOSING_MARGIN = 6


def _follows() -> Tensor:
    """(states, kinds) bool: which kind of symbol may follow which, before the depth and ring conditions."""
    table = torch.zeros(10, 9, dtype=torch.bool)
    for prev in range(10):
        table[prev, ATOM] = prev != END
    for prev in (ATOM, RING, CLOSE):  # after an atom (or its ring digits, or a closed branch)
        table[prev, [BOND, OPEN, CLOSE, DOT, END]] = True
    table[[ATOM, RING, BOND], RING] = True  # ring digits follow their atom, possibly after a bond (C=1)
    table[OPEN, BOND] = True  # a branch may begin with its bond: C(=O)
    table[END, END] = True  # a finished sequence only repeats its end
    return table


class SmilesGrammar:
    """The SMILES syntax over a tokenizer's vocabulary, for :attr:`vaekit.decoding.DecodeOptions.grammar`.

    Args:
        vocabulary: the symbols, index = token id (specials included).
        end_index: the end token, allowed once every branch and ring is closed after an atom.
    """

    def __init__(self, vocabulary: Sequence[str], end_index: int) -> None:
        kinds, labels, names = [], [], {}
        for index, symbol in enumerate(vocabulary):
            label = -1
            if index == end_index:
                kind = END
            elif SMILES_ATOM.fullmatch(symbol):
                kind = ATOM
            elif symbol in _BONDS:
                kind = BOND
            elif symbol in "()." and len(symbol) == 1:
                kind = {"(": OPEN, ")": CLOSE, ".": DOT}[symbol]
            elif _RING.fullmatch(symbol) and len(names) < _MAX_RING_LABELS:
                kind, label = RING, names.setdefault(symbol, len(names))
            else:
                kind = OTHER  # specials, charges or chirality marks outside brackets: never written
            kinds.append(kind)
            labels.append(label)
        self.kinds = torch.tensor(kinds, dtype=torch.long)  # (V,)
        self.labels = torch.tensor(labels, dtype=torch.long)  # (V,): ring label number, -1 for other symbols
        self.ring_labels = len(names)
        self.label_bits = 1 << torch.arange(self.ring_labels)  # (R,): each label's bit in the masks
        self.ring_tokens = (self.labels >= 0).nonzero()[:, 0]  # (R,) token ids, in label order
        self.follows = _follows()[:, self.kinds]  # (kinds, V)
        self.openers = STACK + MAX_DEPTH  # first column of the labels' opening atoms

    def start(self, n: int, device: torch.device | str = "cpu", max_length: int | None = None) -> Tensor:
        """The state of ``n`` empty sequences that end within ``max_length`` symbols (the end token included):
        (n, 9 + MAX_DEPTH + ring labels) long."""
        state = torch.zeros(n, self.openers + self.ring_labels, dtype=torch.long, device=device)
        state[:, KIND] = START
        state[:, [CURRENT, PARENT]] = -1
        state[:, self.openers :] = -1
        state[:, LEFT] = _UNLIMITED if max_length is None else int(max_length)
        return state

    def allowed(self, state: Tensor) -> Tensor:
        """(N, V) bool: the symbols each sequence may write next."""
        kinds = self.kinds.to(state.device)
        prev, depth = state[:, KIND], state[:, DEPTH]
        allowed = self.follows.to(state.device)[prev]
        shut = (depth == 0)[:, None]
        allowed &= ~((kinds == CLOSE) & shut)  # no ")" outside a branch
        allowed &= ~((kinds == OPEN) & (depth >= MAX_DEPTH)[:, None])
        allowed &= ~((kinds == DOT) & ~shut)  # a "." only between whole molecules
        allowed &= ~((kinds == END) & ~(shut & (state[:, RINGS] == 0)[:, None]) & (prev != END)[:, None])
        # Rings the current atom may not close: opened at it or at an atom bonded to it; after a bond symbol,
        # rings whose opening carried one.
        openers = state[:, self.openers :]  # (N, R)
        is_open = openers >= 0
        bits = self.label_bits.to(state.device)
        barred = (state[:, TAKEN] | torch.where(prev == BOND, state[:, BONDED], 0))[:, None] & bits
        barred = is_open & ((barred != 0) | (openers == state[:, CURRENT, None]) | (openers == state[:, PARENT, None]))
        ring_tokens = self.ring_tokens.to(state.device)
        allowed[:, ring_tokens] &= ~barred
        # Near the length limit: close what can be closed, else write the atom that lets it close.
        closing = (state[:, LEFT] < depth + 3 * state[:, RINGS] + _CLOSING_MARGIN)[:, None]
        closers = allowed & ((kinds == CLOSE) | (kinds == END))
        closers[:, ring_tokens] |= allowed[:, ring_tokens] & is_open
        near_end = torch.where(closers.any(1, keepdim=True), closers, allowed & (kinds == ATOM))
        return torch.where(closing, near_end, allowed)

    def advance(self, state: Tensor, token: Tensor) -> Tensor:
        """The states after writing ``token`` (N,)."""
        kind, label = self.kinds.to(state.device)[token], self.labels.to(state.device)[token]
        prev, depth, current = state[:, KIND], state[:, DEPTH], state[:, CURRENT]
        new = state.clone()
        new[:, KIND] = torch.where((kind == BOND) & (prev == OPEN), BRANCH_BOND, kind)
        new[:, LEFT] -= 1
        rows = torch.arange(len(state), device=state.device)
        # "(" pushes the current atom as the branch point; ")" returns to it: the next atom hangs from it.
        opening = kind == OPEN
        new[rows[opening], (STACK + depth[opening]).clamp(max=STACK + MAX_DEPTH - 1)] = current[opening]
        closing_branch = kind == CLOSE
        branch_point = state[rows, STACK + (depth - 1).clamp(min=0)]
        new[:, CURRENT] = torch.where(closing_branch, branch_point, current)
        new[:, DEPTH] = depth + opening.long() - closing_branch.long()
        # A new atom hangs from the current one (none after a "."), and has closed no ring yet.
        atom, dot = kind == ATOM, kind == DOT
        new[:, PARENT] = torch.where(atom, new[:, CURRENT], new[:, PARENT])
        new[:, CURRENT] = torch.where(atom, state[:, NEXT], torch.where(dot, -1, new[:, CURRENT]))
        new[:, NEXT] += atom.long()
        new[:, TAKEN] = torch.where(atom | dot, 0, new[:, TAKEN])
        if self.ring_labels:
            self._ring_digit(state, new, label, prev == BOND)
        return new

    def _ring_digit(self, state: Tensor, new: Tensor, label: Tensor, after_bond: Tensor) -> None:
        """Write into ``new`` what a ring digit does: it opens its label at the current atom, or closes it when
        open; then the labels opened by the same atom are taken for the current one (a second ring bond between
        the two atoms)."""
        rows = torch.arange(len(state), device=state.device)
        ring = label >= 0
        column = self.openers + label.clamp(min=0)
        opener = state[rows, column]
        closes, opens = ring & (opener >= 0), ring & (opener < 0)
        bit = torch.where(ring, 1 << label.clamp(min=0), 0)
        same = ((state[:, self.openers :] == opener[:, None]) & closes[:, None]).long() * self.label_bits.to(
            state.device
        )
        new[:, TAKEN] |= same.sum(1)
        new[rows, column] = torch.where(closes, -1, torch.where(opens, new[:, CURRENT], opener))
        new[:, RINGS] += opens.long() - closes.long()
        new[:, BONDED] = torch.where(
            closes, state[:, BONDED] & ~bit, state[:, BONDED] | torch.where(opens & after_bond, bit, 0)
        )
