"""SMILES syntax and valence as a decoding constraint: a sampler that follows it only writes strings whose
branches and ring closures pair up, with no bond, branch or ring digit out of place, and no atom with more bonds
than its element allows.

The state of each sequence is a row of integers, so a batch of them is one tensor that beam search can reorder
like any other state. It numbers the atoms and holds the current atom, the atom it hangs from, a stack of branch
points and, for each ring label, the atom that opened it. A ring may not close at the atom that opened it or at
one bonded to that atom (``C11``, ``C1C1`` and ``C12CC12`` bond two atoms twice); a ring whose opening carried a
bond symbol may not close with another (which could contradict it). Near the length limit only symbols that
close a branch or a ring, end the string, or (where nothing can close yet) an atom with bonds to spare are
allowed, so a string finishes before it is cut off.

Each atom's free valence (its element's largest valence, less its hydrogens in brackets, less the orders of its
bonds) is kept too: a bond, branch or ring digit needs free valence at both ends, and while a ring is open some
atom that the string can still grow from keeps one free, so that the ring can always close (of open rings, at
most one is a triple bond: a chain of fresh atoms closes the others, and its last atom that one). An aromatic bond
counts as a single one, so aromatic rings are checked loosely: a ring that cannot be kekulized is still written,
and RDKit then rejects it. Kekulé SMILES (no aromatic atoms) avoid that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

from vaekit.data.molecule_tokenizers import SMILES_ATOM

# Symbol kinds; START is the state before the first symbol, OTHER a symbol the grammar never writes.
START, ATOM, BOND, OPEN, CLOSE, RING, DOT, END, OTHER = range(9)
# A state, not a symbol: a bond right after "(" or ")", which only an atom may follow (a ring digit belongs to
# the atom before it: C(=1 and C(C)=1 are no SMILES).
ATOM_BOND = 9
_BONDS = frozenset("-=#$:/\\")
_RING = re.compile(r"\d|%\d{2}")
_MAX_RING_LABELS = 62  # bits of the int64 label masks (one spare for the sign)
MAX_DEPTH = 8  # nested branches (MOSES molecules use at most 4)
# Columns of the state: the last symbol's kind, the branch depth, the current atom and the one it hangs from (-1:
# none), the next atom's number, the labels opened with a bond symbol and those the current atom may no longer
# close (bit masks), the open rings, the symbols left, the order of a bond symbol just written (0: none).
KIND, DEPTH, CURRENT, PARENT, NEXT, BONDED, TAKEN, RINGS, LEFT, ORDER = range(10)
STACK = 10  # then MAX_DEPTH branch points, each ring label's opening atom, its bond order, each atom's free valence
_UNLIMITED = 1 << 40
# Finishing takes one symbol per open branch, up to three per open ring (a ring opened at the current atom or at
# its parent needs two more atoms before its digit), the end, and an atom after a bond or "(". Closing begins
# while the next symbol, whatever it opens (a ring: four more), still leaves room for all of that.
_CLOSING_MARGIN = 6
_BOND_ORDERS = {"-": 1, "=": 2, "#": 3, "$": 4, ":": 1, "/": 1, "\\": 1}
# The largest valence RDKit accepts for each neutral element (aromatic symbols as their element); valence
# electrons for charged atoms, whose valence is that of the element with as many (N+ as C: 4; O- as F: 1).
_VALENCE = {"H": 1, "B": 3, "C": 4, "N": 3, "O": 2, "F": 1, "Si": 4, "P": 5, "S": 6, "Cl": 1, "Se": 6, "Br": 1, "I": 5}
_ELECTRONS = {"H": 1, "B": 3, "C": 4, "N": 5, "O": 6, "F": 7, "Si": 4, "P": 5, "S": 6, "Cl": 7, "Se": 6}
_ELECTRONS |= {"Br": 7, "I": 7}
_ANY_VALENCE = 8  # an element outside the table, or the wildcard: not checked
_BRACKET = re.compile(r"\[(\d*)([A-Z][a-z]?|[a-z][a-z]?|\*)(@*)(?:H(\d?))?([+-]+\d*)?(?::\d+)?\]")
_UNBOUNDED_ATOMS = 256  # atoms whose valence is kept when decoding has no length limit


def atom_valence(symbol: str) -> int:
    """The most bonds (counted by order, an aromatic bond as one) an atom symbol can make: its element's
    valence, less the hydrogens a bracket atom names (``"C"``: 4, ``"[nH]"``: 2, ``"[N+]"``: 4, ``"[O-]"``: 1)."""
    bracket = _BRACKET.fullmatch(symbol)
    if bracket is None:
        element, hydrogens, charge = symbol.capitalize(), 0, 0  # c -> C; Cl, Br unchanged
    else:
        element, h, sign = bracket.group(2), bracket.group(4), bracket.group(5) or ""
        element = element.capitalize() if element.islower() else element
        hydrogens = 0 if h is None else int(h or 1)
        digits = sign.lstrip("+-")
        charge = (int(digits) if digits else len(sign)) * (-1 if sign.startswith("-") else 1)
    if element not in _VALENCE:
        return _ANY_VALENCE
    if charge == 0:
        valence = _VALENCE[element]
    else:  # as the element with the same number of valence electrons: an octet, or fewer than four bonds
        electrons = _ELECTRONS[element] - charge
        valence = electrons if electrons <= 4 else 8 - electrons
        if element not in ("B", "C", "N", "O", "F") and electrons > 4:
            valence = electrons  # heavier atoms may expand their octet (S+ as P: 3 or 5)
    return max(valence - hydrogens, 0)


def _next_bond_order(state: Tensor) -> Tensor:
    """(N,): the order of the bond the next atom or ring digit makes: the bond symbol just written, else single."""
    return torch.where(state[:, ORDER] > 0, state[:, ORDER], 1)


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
    """The SMILES syntax and valences over a tokenizer's vocabulary, for
    :attr:`vaekit.decoding.DecodeOptions.grammar`.

    Args:
        vocabulary: the symbols, index = token id (specials included).
        end_index: the end token, allowed once every branch and ring is closed after an atom.
    """

    def __init__(self, vocabulary: Sequence[str], end_index: int) -> None:
        kinds, labels, names, valences, orders = [], [], {}, [], []
        for index, symbol in enumerate(vocabulary):
            label, valence = -1, 0
            if index == end_index:
                kind = END
            elif SMILES_ATOM.fullmatch(symbol):
                kind, valence = ATOM, atom_valence(symbol)
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
            valences.append(valence)
            orders.append(_BOND_ORDERS.get(symbol, 0) if kind == BOND else 0)
        self.kinds = torch.tensor(kinds, dtype=torch.long)  # (V,)
        self.labels = torch.tensor(labels, dtype=torch.long)  # (V,): ring label number, -1 for other symbols
        self.valences = torch.tensor(valences, dtype=torch.long)  # (V,): an atom's valence, 0 for other symbols
        self.orders = torch.tensor(orders, dtype=torch.long)  # (V,): a bond symbol's order, 0 for other symbols
        self.largest_valence = max(valences, default=0)
        self.ring_labels = len(names)
        self.label_bits = 1 << torch.arange(self.ring_labels)  # (R,): each label's bit in the masks
        self.ring_tokens = (self.labels >= 0).nonzero()[:, 0]  # (R,) token ids, in label order
        self.atom_tokens = (self.kinds == ATOM).nonzero()[:, 0]
        self.bond_tokens = (self.kinds == BOND).nonzero()[:, 0]
        self.follows = _follows()[:, self.kinds]  # (kinds, V)
        self.openers = STACK + MAX_DEPTH  # first column of the labels' opening atoms
        self.ring_orders = self.openers + self.ring_labels  # first column of the labels' bond orders
        self.free = self.ring_orders + self.ring_labels  # first column of the atoms' free valences

    def start(self, n: int, device: torch.device | str = "cpu", max_length: int | None = None) -> Tensor:
        """The state of ``n`` empty sequences that end within ``max_length`` symbols (the end token included):
        (n, columns) long; one column per atom the length allows (256 without a limit; atoms beyond are not
        checked)."""
        atoms = _UNBOUNDED_ATOMS if max_length is None else max(int(max_length), 1)
        state = torch.zeros(n, self.free + atoms, dtype=torch.long, device=device)
        state[:, KIND] = START
        state[:, [CURRENT, PARENT]] = -1
        state[:, self.openers : self.ring_orders] = -1
        state[:, LEFT] = _UNLIMITED if max_length is None else int(max_length)
        return state

    def _free_of(self, state: Tensor, atoms: Tensor) -> Tensor:
        """The free valence of atoms (N, K) of each row: 0 for no atom (-1), unchecked past the kept ones."""
        slots = state.shape[1] - self.free
        kept = (atoms >= 0) & (atoms < slots)
        free = state[:, self.free :].gather(1, atoms.clamp(0, slots - 1))
        return torch.where(kept, free, torch.where(atoms < 0, 0, _ANY_VALENCE))

    def _spend(self, new: Tensor, atoms: Tensor, amount: Tensor) -> None:
        """Take ``amount`` (N,) from the free valence of ``atoms`` (N,) in ``new``, where an atom is kept."""
        slots = new.shape[1] - self.free
        rows = ((atoms >= 0) & (atoms < slots) & (amount != 0)).nonzero()[:, 0]
        new[rows, self.free + atoms[rows]] -= amount[rows]

    def allowed(self, state: Tensor) -> Tensor:
        """(N, V) bool: the symbols each sequence may write next."""
        device = state.device
        kinds = self.kinds.to(device)
        prev, depth = state[:, KIND], state[:, DEPTH]
        allowed = self.follows.to(device)[prev]
        shut = (depth == 0)[:, None]
        allowed &= ~((kinds == CLOSE) & shut)  # no ")" outside a branch
        allowed &= ~((kinds == OPEN) & (depth >= MAX_DEPTH)[:, None])
        allowed &= ~((kinds == DOT) & ~shut)  # a "." only between whole molecules
        allowed &= ~((kinds == END) & ~(shut & (state[:, RINGS] == 0)[:, None]) & (prev != END)[:, None])
        # Rings the current atom may not close: opened at it or at an atom bonded to it; after a bond symbol,
        # rings whose opening carried one.
        openers = state[:, self.openers : self.ring_orders]  # (N, R)
        is_open = openers >= 0
        bits = self.label_bits.to(device)
        barred = (state[:, TAKEN] | torch.where(prev == BOND, state[:, BONDED], 0))[:, None] & bits
        barred = is_open & ((barred != 0) | (openers == state[:, CURRENT, None]) | (openers == state[:, PARENT, None]))
        ring_tokens = self.ring_tokens.to(device)
        allowed[:, ring_tokens] &= ~barred
        syntax = allowed.clone()
        allowed &= self._valences_allow(state, openers, is_open)
        # A vocabulary too poor to finish within the valences (no atom of valence 3 or more) falls back to syntax.
        allowed = torch.where(allowed.any(1, keepdim=True), allowed, syntax)
        # Near the length limit: close what can be closed, else write an atom that lets it close.
        closing = (state[:, LEFT] < depth + 3 * state[:, RINGS] + _CLOSING_MARGIN)[:, None]
        closers = allowed & ((kinds == CLOSE) | (kinds == END))
        closers[:, ring_tokens] |= allowed[:, ring_tokens] & is_open
        # Where nothing closes yet, an atom with bonds to spare (C rather than O) lets the rings close.
        spare = allowed & (kinds == ATOM) & (self.valences.to(device) >= min(4, self.largest_valence))
        fillers = torch.where(spare.any(1, keepdim=True), spare, allowed & (kinds == ATOM))
        near_end = torch.where(closers.any(1, keepdim=True), closers, fillers)
        return torch.where(closing, near_end, allowed)

    def _valences_allow(self, state: Tensor, openers: Tensor, is_open: Tensor) -> Tensor:
        """(N, V) bool: the symbols whose bonds fit the free valences, and after which an open ring can still
        close: the current atom, or a branch point the string returns to, keeps a free valence."""
        device = state.device
        n = len(state)
        current, rings = state[:, CURRENT], state[:, RINGS]
        free = self._free_of(state, current[:, None])[:, 0]  # (N,)
        order = _next_bond_order(state)
        bonded = current >= 0
        # Branch points below the current depth: the string returns to them after ")".
        points = state[:, STACK : STACK + MAX_DEPTH]
        on_stack = torch.arange(MAX_DEPTH, device=device) < state[:, DEPTH, None]
        points = torch.where(on_stack, points, -1)
        point_free = self._free_of(state, points)  # (N, D), 0 where none

        def points_keep(spent_at: Tensor, amount: Tensor) -> Tensor:
            """Whether some branch point keeps a free valence after ``amount`` (N, K) is spent at atom
            ``spent_at`` (N, K): (N, K)."""
            after = point_free[:, None, :] - amount[..., None] * (points[:, None, :] == spent_at[..., None])
            return (after >= 1).any(-1)

        ringless = (rings == 0)[:, None]
        ok = torch.ones(n, len(self.kinds), dtype=torch.bool, device=device)
        # An atom: the bond to the current atom fits both; then the new atom or a branch point keeps a valence.
        atoms = self.atom_tokens.to(device)
        valence = self.valences.to(device)[atoms][None, :]  # (1, A)
        spent = (order * bonded)[:, None]  # (N, 1)
        left = valence - spent
        keep = points_keep(current[:, None], spent).expand(-1, len(atoms))
        ok[:, atoms] = (left >= 0) & (free[:, None] >= spent) & (ringless | (left >= 1) | keep)
        # A bond symbol: the current atom has its order free, and some atom can take it.
        bonds = self.bond_tokens.to(device)
        bond_order = self.orders.to(device)[bonds][None, :].expand(n, -1)  # (N, B)
        keep = points_keep(current[:, None].expand(-1, len(bonds)), bond_order)
        after = self.largest_valence - bond_order
        ok[:, bonds] = (free[:, None] >= bond_order) & (after >= 0) & (ringless | (after >= 1) | keep)
        kinds = self.kinds.to(device)
        # "(": its first atom bonds to the current one.
        ok[:, kinds == OPEN] = (free >= 1)[:, None]
        # ")": the string returns to the branch points only.
        ok[:, kinds == CLOSE] = ringless | (point_free >= 1).any(1, keepdim=True)
        if self.ring_labels:
            # A ring digit opens its label with the bond just written (or a single one), or closes it with the
            # bond its opening reserved (the opener spends the difference when a higher bond symbol closes it).
            label_order = state[:, self.ring_orders : self.free]  # (N, R)
            pending = state[:, ORDER][:, None]
            closing_order = torch.where(pending > 0, pending, label_order)
            extra = (pending - label_order).clamp(min=0) * is_open
            opener_free = self._free_of(state, openers)
            spend = torch.where(is_open, closing_order, order[:, None])
            rings_after = rings[:, None] + torch.where(is_open, -1, 1)
            keep = points_keep(openers, extra)
            fits = (free[:, None] >= spend) & (~is_open | (opener_free >= extra))
            # A chain of fresh atoms closes any open rings, the last of them (with three bonds free) a triple one:
            # so at most one open ring of order 3, and none of order 4.
            triple_open = ((label_order >= 3) & is_open).any(1, keepdim=True)
            fits &= is_open | ((order[:, None] < 3) | ((order[:, None] == 3) & ~triple_open))
            ok[:, self.ring_tokens.to(device)] = fits & ((rings_after == 0) | (free[:, None] - spend >= 1) | keep)
        return ok

    def advance(self, state: Tensor, token: Tensor) -> Tensor:
        """The states after writing ``token`` (N,)."""
        device = state.device
        kind, label = self.kinds.to(device)[token], self.labels.to(device)[token]
        prev, depth, current = state[:, KIND], state[:, DEPTH], state[:, CURRENT]
        new = state.clone()
        new[:, KIND] = torch.where((kind == BOND) & ((prev == OPEN) | (prev == CLOSE)), ATOM_BOND, kind)
        new[:, LEFT] -= 1
        new[:, ORDER] = self.orders.to(device)[token]  # 0 unless a bond symbol
        order = _next_bond_order(state)
        rows = torch.arange(len(state), device=device)
        # "(" pushes the current atom as the branch point; ")" returns to it: the next atom hangs from it.
        opening = kind == OPEN
        new[rows[opening], (STACK + depth[opening]).clamp(max=STACK + MAX_DEPTH - 1)] = current[opening]
        closing_branch = kind == CLOSE
        branch_point = state[rows, STACK + (depth - 1).clamp(min=0)]
        new[:, CURRENT] = torch.where(closing_branch, branch_point, current)
        new[:, DEPTH] = depth + opening.long() - closing_branch.long()
        # A new atom hangs from the current one (none after a "."), and has closed no ring yet; the bond between
        # them spends valence at both.
        atom, dot = kind == ATOM, kind == DOT
        bonded = atom & (new[:, CURRENT] >= 0)
        self._spend(new, new[:, CURRENT], torch.where(bonded, order, 0))
        slots = new.shape[1] - self.free
        fresh = (atom & (state[:, NEXT] < slots)).nonzero()[:, 0]
        new[fresh, self.free + state[fresh, NEXT]] = (
            self.valences.to(device)[token[fresh]] - torch.where(bonded, order, 0)[fresh]
        )
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
        the two atoms). Opening reserves the ring bond's valence at the opener; closing spends it at the closer."""
        rows = torch.arange(len(state), device=state.device)
        ring = label >= 0
        column = self.openers + label.clamp(min=0)
        opener = state[rows, column]
        closes, opens = ring & (opener >= 0), ring & (opener < 0)
        bit = torch.where(ring, 1 << label.clamp(min=0), 0)
        same = ((state[:, self.openers : self.ring_orders] == opener[:, None]) & closes[:, None]).long()
        new[:, TAKEN] |= (same * self.label_bits.to(state.device)).sum(1)
        new[rows, column] = torch.where(closes, -1, torch.where(opens, new[:, CURRENT], opener))
        new[:, RINGS] += opens.long() - closes.long()
        new[:, BONDED] = torch.where(
            closes, state[:, BONDED] & ~bit, state[:, BONDED] | torch.where(opens & after_bond, bit, 0)
        )
        pending = state[:, ORDER]
        order_column = self.ring_orders + label.clamp(min=0)
        label_order = state[rows, order_column]
        bond = torch.where(opens, torch.where(pending > 0, pending, 1), torch.where(pending > 0, pending, label_order))
        self._spend(new, state[:, CURRENT], torch.where(ring, bond, 0))
        self._spend(new, opener, torch.where(closes, (pending - label_order).clamp(min=0), 0))
        new[rows, order_column] = torch.where(opens, bond, torch.where(closes, 0, label_order))
