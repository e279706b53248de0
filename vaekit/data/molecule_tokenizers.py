"""Tokenizers of molecules written as SMILES: atom-level SMILES symbols, or SELFIES symbols.

Both read and write SMILES, so every command that handles lines of text handles molecules. They refuse
symbols outside their vocabulary (:class:`~vaekit.data.tokenizers.UnknownSymbolError`): an unknown atom
read as ``<unk>`` would silently become another molecule.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from vaekit.data.errors import DataError
from vaekit.data.tokenizers import SPECIALS, UNK, Tokenizer, _ranked
from vaekit.registry import register

if TYPE_CHECKING:
    from vaekit.data.smiles_grammar import SmilesGrammar

# Atoms (bracket atoms whole, two-letter halogens first, the wildcard *): a SMILES string begins with one.
_ATOMS = r"\[[^\]]+\]|Br|Cl|B|C|N|O|S|P|F|I|b|c|n|o|s|p|\*"
SMILES_ATOM = re.compile(_ATOMS)
# One token per atom, bond, branch, ring closure (%nn whole) or other SMILES symbol; the last alternative
# keeps any other character as its own token, so split never loses a character and join is its exact inverse.
SMILES_PATTERN = re.compile(rf"({_ATOMS}|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\$|%\d{{2}}|\d|.)")


def split_smiles(smiles: str) -> list[str]:
    """The atom-level symbols of a SMILES string (``"Clc1ccccc1"`` -> ``["Cl", "c", "1", ...]``)."""
    return SMILES_PATTERN.findall(smiles)


class _MoleculeTokenizer(Tokenizer):
    """Shared part of the molecule tokenizers: unknown symbols are an error; the vocabulary is every symbol seen."""

    unknown_is_error = True
    splitter = staticmethod(split_smiles)  # SMILES -> symbols, without the vocabulary

    def split(self, text: str) -> list[str]:
        return self.splitter(text)

    def can_start(self, symbol: str) -> bool:  # pragma: no cover - abstract
        """Whether a molecule can begin with ``symbol``."""
        raise NotImplementedError

    def never_first(self) -> tuple[int, ...]:
        """<bos>, <unk> and the symbols no molecule begins with (a bond, branch or ring closure before any atom).

        <bos> is never a target, yet a sampler can draw it; decoding skips it, so the symbol after it would
        begin the molecule."""
        rest = range(len(SPECIALS), len(self.vocabulary))
        return (self.bos_index, self.unk_index, *(i for i in rest if not self.can_start(self.vocabulary[i])))

    @classmethod
    def train(cls, texts: Iterable[str], min_count: int = 1) -> Tokenizer:
        """The vocabulary of every symbol seen at least ``min_count`` times (most frequent first)."""
        counts: Counter = Counter()
        for text in texts:
            counts.update(cls.splitter(text))
        return cls([*SPECIALS, *_ranked(counts, None, min_count)])


@register("tokenizer", "smiles")
class SmilesTokenizer(_MoleculeTokenizer):
    """SMILES split into atoms, bonds, branches and ring closures by a regular expression (Schwaller et al. 2019)."""

    def join(self, tokens: Sequence[str]) -> str:
        return "".join(t for t in tokens if t != UNK)

    def can_start(self, symbol: str) -> bool:
        return bool(SMILES_ATOM.fullmatch(symbol))

    def grammar(self) -> SmilesGrammar:
        """SMILES syntax over this vocabulary: decoded strings pair their branches and ring closures."""
        from vaekit.data.smiles_grammar import SmilesGrammar

        return SmilesGrammar(self.vocabulary, self.eos_index)


def smiles_to_kekule_symbols(smiles: str) -> list[str]:
    """The atom-level symbols of a molecule's Kekulé SMILES (``"c1ccccc1"`` -> ``["C", "1", "=", "C", ...]``).

    Raises:
        DataError: not a valid molecule.
    """
    return list(_kekule_symbols(smiles))


@functools.lru_cache(maxsize=1 << 18)
def _kekule_symbols(smiles: str) -> tuple[str, ...]:
    # Cached, as for SELFIES: RDKit's parse and kekulization is the slow step of splitting.
    from vaekit.chem.molecules import kekule

    return tuple(split_smiles(kekule(smiles)))


@register("tokenizer", "kekule_smiles")
class KekuleSmilesTokenizer(SmilesTokenizer):
    """SMILES in Kekulé form, split as :class:`SmilesTokenizer` splits: every aromatic ring is written with
    explicit single and double bonds, so no decoded string has an aromatic ring that RDKit cannot kekulize, and
    the SMILES grammar's valence rule covers every bond (``pip install vaekit[chem]``). Reads any SMILES and
    writes Kekulé SMILES of the same molecule."""

    splitter = staticmethod(smiles_to_kekule_symbols)


def _selfies():
    try:
        import selfies
    except ImportError:
        raise DataError("the selfies tokenizer needs the PyPI package selfies: pip install 'vaekit[chem]'") from None
    return selfies


def smiles_to_selfies_symbols(smiles: str) -> list[str]:
    """The SELFIES symbols of a SMILES string.

    Raises:
        DataError: the SMILES cannot be written as SELFIES (it is not a valid molecule, or breaks SELFIES's
            bonding rules).
    """
    return list(_selfies_symbols(smiles))


@functools.lru_cache(maxsize=1 << 18)
def _selfies_symbols(smiles: str) -> tuple[str, ...]:
    # Cached: a training run splits each molecule several times (vocabulary, checks, encoding), and the
    # SMILES -> SELFIES translation is the slow step.
    sf = _selfies()
    try:
        return tuple(sf.split_selfies(sf.encoder(smiles)))
    except sf.EncoderError as error:
        raise DataError(f"{smiles!r} cannot be written as SELFIES: {error}") from None


@register("tokenizer", "selfies")
class SelfiesTokenizer(_MoleculeTokenizer):
    """SELFIES symbols (Krenn et al. 2020): reads SMILES, writes SMILES, and every symbol sequence it decodes
    is a valid molecule (``pip install vaekit[chem]``)."""

    splitter = staticmethod(smiles_to_selfies_symbols)

    def join(self, tokens: Sequence[str]) -> str:
        # A model can emit <unk> (never seen in training, so rarely); it is left out like padding.
        return _selfies().decoder("".join(t for t in tokens if t != UNK))

    def can_start(self, symbol: str) -> bool:
        # Before the first atom, SELFIES skips branch, ring and [nop] symbols: alone they decode to nothing.
        return _selfies().decoder(symbol) != ""
