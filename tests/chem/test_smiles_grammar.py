"""The SMILES syntax constraint: it accepts every MOSES molecule symbol by symbol, forbids what no SMILES
writes, and whatever a random network decodes under it parses as SMILES (RDKit without sanitisation: syntax, not
valence), by sampling, greedy decoding and beam search alike."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")

from rdkit import Chem, RDLogger  # noqa: E402

from vaekit.chem.corpus import load_moses_split  # noqa: E402
from vaekit.data.molecule_tokenizers import SMILES_ATOM  # noqa: E402
from vaekit.data.smiles_grammar import DEPTH, RINGS, SmilesGrammar, atom_valence  # noqa: E402
from vaekit.data.tokenizers import train_tokenizer  # noqa: E402
from vaekit.decoding import DecodeOptions, decode_tokens  # noqa: E402
from vaekit.nn import RecurrentTokenDecoder  # noqa: E402

RDLogger.DisableLog("rdApp.*")


@pytest.fixture(scope="module")
def moses() -> list[str]:
    return load_moses_split("test")[:2000]


@pytest.fixture(scope="module")
def tokenizer(moses):
    return train_tokenizer("smiles", [*moses, "C1CC.CC1", "C%10CC%10"])


def _allowed_after(tokenizer, prefix: list[str]) -> set[str]:
    """The symbols the grammar allows after ``prefix`` ("<eos>" for the end)."""
    grammar = tokenizer.grammar()
    state = grammar.start(1)
    for symbol in prefix:
        token = torch.tensor([tokenizer.vocabulary.index(symbol)])
        assert bool(grammar.allowed(state)[0, token]), f"{symbol!r} refused after {prefix}"
        state = grammar.advance(state, token)
    allowed = grammar.allowed(state)[0].nonzero()[:, 0].tolist()
    return {"<eos>" if i == tokenizer.eos_index else tokenizer.vocabulary[i] for i in allowed}


def _write_under_the_grammar(tokenizer, molecules: list[str]) -> torch.Tensor:
    """The grammar's state after writing each molecule symbol by symbol, each symbol checked as allowed."""
    grammar = tokenizer.grammar()
    ids = [tokenizer.encode(smiles) for smiles in molecules]  # each ends with <eos>
    length = max(map(len, ids))
    tokens = torch.tensor([row + [tokenizer.eos_index] * (length - len(row)) for row in ids])
    state = grammar.start(len(molecules))
    for t in range(length):
        assert bool(grammar.allowed(state).gather(1, tokens[:, t : t + 1]).all()), f"a symbol refused at step {t}"
        state = grammar.advance(state, tokens[:, t])
    return state


def test_every_moses_molecule_keeps_to_the_grammar(moses, tokenizer):
    state = _write_under_the_grammar(tokenizer, moses)
    assert (state[:, DEPTH] == 0).all() and (state[:, RINGS] == 0).all()  # every branch and ring closed


def test_what_no_smiles_writes_is_refused(tokenizer):
    start = _allowed_after(tokenizer, [])
    assert "C" in start and "c" in start and not {"(", ")", "1", "=", "<eos>", "<bos>", "<unk>", "<pad>"} & start
    after_atom = _allowed_after(tokenizer, ["C"])
    assert {"(", "=", "1", "C", "<eos>", "."} <= after_atom and ")" not in after_atom
    assert not {")", "1", "<eos>"} & _allowed_after(tokenizer, ["C", "("])  # no empty branch, no digit after "("
    assert "<eos>" not in _allowed_after(tokenizer, ["C", "(", "C"])  # an open branch
    assert {")", "C"} <= _allowed_after(tokenizer, ["C", "(", "C"]) and "." not in _allowed_after(
        tokenizer, ["C", "(", "C"]
    )
    ring_open = _allowed_after(tokenizer, ["C", "1"])
    assert "1" not in ring_open and "2" in ring_open and "<eos>" not in ring_open  # C11 is no ring
    assert "1" in _allowed_after(tokenizer, ["C", "1", "C", "C"]) and "<eos>" in _allowed_after(
        tokenizer, ["C", "1", "C", "C", "1"]
    )
    assert not {"<eos>", ")", "(", "="} & _allowed_after(tokenizer, ["C", "="])  # a bond needs an atom after it
    assert "1" in _allowed_after(tokenizer, ["C", "1", "C", "C", "="])  # a ring bond: C1CC=1
    assert "1" not in _allowed_after(tokenizer, ["C", "(", "C", ")"])  # a ring digit belongs to an atom
    assert "1" not in _allowed_after(tokenizer, ["C", "1", "C", "C", "(", "C", ")", "="])  # C1CC(C)=1 neither
    assert "1" not in _allowed_after(tokenizer, ["C", "1", "C"])  # C1C1 bonds the two atoms twice
    assert "1" not in _allowed_after(tokenizer, ["C", "1", "(", "C"]) and "1" in _allowed_after(
        tokenizer, ["C", "1", "(", "C", "C"]
    )  # a branch's first atom hangs from the branch point
    assert "1" in _allowed_after(tokenizer, ["C", "1", "C", "(", "C", ")", "C"])  # C1C(C)C1: hangs from C1, not C0
    assert "2" not in _allowed_after(tokenizer, ["C", "1", "2", "C", "C", "1"])  # C12CC12: two bonds, same atoms
    assert "2" in _allowed_after(tokenizer, ["C", "1", "2", "C", "C", "1", "C"])  # C12CC1C2: a bicycle
    assert "1" not in _allowed_after(tokenizer, ["C", "=", "1", "C", "C", "="])  # no second bond symbol on a ring
    assert "1" in _allowed_after(tokenizer, ["C", "=", "1", "C", "C"])
    double_bonded = {s for s in tokenizer.vocabulary if SMILES_ATOM.fullmatch(s) and atom_valence(s) >= 2}
    assert _allowed_after(tokenizer, ["C", "(", "="]) == double_bonded
    assert _allowed_after(tokenizer, ["C", "1", "C", "C", "1", "<eos>"]) == {"<eos>"}  # finished
    assert "<eos>" in _allowed_after(tokenizer, ["C", "%10", "C", "C", "%10"])


@pytest.mark.parametrize(
    ("symbol", "valence"),
    [("C", 4), ("c", 4), ("N", 3), ("O", 2), ("F", 1), ("Cl", 1), ("S", 6), ("[nH]", 2), ("[C@@H]", 3)]
    + [("[N+]", 4), ("[NH3+]", 1), ("[O-]", 1), ("[C-]", 3), ("[B-]", 4), ("[S+]", 5), ("[Xe]", 8), ("*", 8)],
)
def test_an_atom_symbol_has_its_elements_valence_less_its_hydrogens(symbol, valence):
    assert atom_valence(symbol) == valence


def test_bonds_fit_the_free_valence_of_both_atoms(tokenizer):
    assert "O" not in _allowed_after(tokenizer, ["N", "#"]) and "N" in _allowed_after(tokenizer, ["N", "#"])
    full = _allowed_after(tokenizer, ["O", "=", "O"])  # O=O: no bond left
    assert not {"(", "=", "C", "1"} & full and "<eos>" in full
    carbon = ["C", "C", "(", "F", ")", "(", "F", ")", "(", "F", ")"]
    assert not {"(", "C", "=", "1"} & _allowed_after(tokenizer, carbon)  # CC(F)(F)(F) has no valence left
    assert "C" in _allowed_after(tokenizer, carbon[1:])  # C(F)(F)(F) has one
    two_left = _allowed_after(tokenizer, ["C", "(", "F", ")", "(", "F", ")"])
    assert "=" in two_left and "#" not in two_left
    one_left = _allowed_after(tokenizer, ["C", "C", "(", "F", ")", "(", "F", ")"])
    assert "=" not in one_left and "C" in one_left
    # C#C has one bond left: a ring opened there could never close, as no atom would keep a valence.
    assert "1" not in _allowed_after(tokenizer, ["C", "#", "C"]) and "1" in _allowed_after(tokenizer, ["C", "=", "C"])


def test_an_open_ring_keeps_a_valence_to_close_with(tokenizer):
    # C1CC(F)(F): the last C has one bond left. An F there would leave no atom that can close ring 1.
    prefix = ["C", "1", "C", "C", "(", "F", ")", "(", "F", ")"]
    allowed = _allowed_after(tokenizer, prefix)
    assert "F" not in allowed and {"C", "N", "O"} <= allowed
    # C1C(F)(F)(C: leaving the branch would return to a branch point with no bond left; ring 1 closes inside.
    inside = _allowed_after(tokenizer, ["C", "1", "C", "(", "F", ")", "(", "F", ")", "(", "C"])
    assert ")" not in inside and "1" in inside


def test_every_kekule_moses_molecule_keeps_to_the_grammar(moses):
    kekule = train_tokenizer("kekule_smiles", moses)
    assert not {s for s in kekule.vocabulary if s in ("c", "n", "o", "s") or s.startswith("[n")}
    state = _write_under_the_grammar(kekule, moses)
    assert (state[:, RINGS] == 0).all()


@pytest.mark.parametrize("method", ["sample", "beam"])
def test_kekule_decodings_under_the_grammar_are_valid_molecules(moses, method):
    """Without aromatic atoms, syntax and valences are all RDKit checks: every decoded string is a molecule."""
    kekule = train_tokenizer("kekule_smiles", moses)
    n = 400 if method == "sample" else 60
    for max_length in (20, 80):
        kept = _decode(kekule, method, kekule.grammar(), n, max_length)
        assert all(s is not None for s in kept)
        invalid = [s for s in kept if Chem.MolFromSmiles(s) is None]
        assert not invalid, invalid[:3]


def _random_network(vocab: int, end: int) -> RecurrentTokenDecoder:
    torch.manual_seed(0)
    network = RecurrentTokenDecoder(vocab, 3, embed_dim=8, hidden=16).eval()
    with torch.no_grad():  # the end token likely wherever it is allowed, so most strings finish
        network.out.bias[end] += 3.0
    return network


def _strings(tokenizer, tokens: torch.Tensor) -> list[str | None]:
    """The decoded strings; None for one cut off by the length limit (no end token)."""
    out = []
    for row in tokens.tolist():
        if tokenizer.eos_index not in row:
            out.append(None)
            continue
        out.append("".join(tokenizer.vocabulary[i] for i in row[: row.index(tokenizer.eos_index)]))
    return out


def _parses(smiles: str) -> bool:
    return Chem.MolFromSmiles(smiles, sanitize=False) is not None


def _decode(tokenizer, method: str, grammar, n: int, max_length: int) -> list[str | None]:
    network = _random_network(len(tokenizer), tokenizer.eos_index)
    context = torch.randn(n, 3, generator=torch.Generator().manual_seed(1))
    banned = (tokenizer.pad_index, tokenizer.bos_index, tokenizer.unk_index)
    options = DecodeOptions(method, beam=3, grammar=grammar, min_length=1)
    generator = torch.Generator().manual_seed(2)
    return _strings(
        tokenizer, decode_tokens(network, context, max_length, options, tokenizer.eos_index, 0, generator, banned)
    )


@pytest.mark.parametrize("method", ["sample", "greedy", "beam"])
@pytest.mark.parametrize("max_length", [20, 80])
def test_decodings_under_the_grammar_finish_and_parse_as_smiles(tokenizer, method, max_length):
    n = 300 if method == "sample" else 60
    kept = _decode(tokenizer, method, tokenizer.grammar(), n, max_length)
    assert all(s is not None for s in kept)  # each ends before the length limit
    assert all(map(_parses, kept)), [s for s in kept if not _parses(s)][:3]
    if method == "sample":  # left free, the same network's strings mostly do not parse
        free = _decode(tokenizer, method, None, n, max_length)
        assert sum(s is not None and _parses(s) for s in free) < 0.5 * n


def test_a_vocabulary_without_ring_digits_writes_chains_and_branches():
    grammar = SmilesGrammar(["<pad>", "<bos>", "<eos>", "<unk>", "C", "(", ")", "="], 2)
    state = grammar.advance(grammar.start(1, max_length=8), torch.tensor([4]))
    assert grammar.allowed(state)[0].nonzero()[:, 0].tolist() == [2, 4, 5, 7]  # end, C, (, =
    state = grammar.advance(state, torch.tensor([5]))  # C( near the limit: the atom the branch needs...
    assert grammar.allowed(state)[0].nonzero()[:, 0].tolist() == [4]
    state = grammar.advance(state, torch.tensor([4]))  # ...then only ")" closes it
    assert grammar.allowed(state)[0].nonzero()[:, 0].tolist() == [6]


def test_the_grammar_ignores_ring_labels_past_its_mask_width():
    vocabulary = ["<pad>", "<bos>", "<eos>", "<unk>", "C", *[f"%{i:02d}" for i in range(10, 80)]]
    grammar = SmilesGrammar(vocabulary, 2)
    assert grammar.ring_labels == 62 and int((grammar.labels >= 0).sum()) == 62  # the rest are never written
    assert not bool(grammar.allowed(grammar.advance(grammar.start(1), torch.tensor([4])))[0, -1])
