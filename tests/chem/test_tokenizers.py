"""SMILES, Kekulé SMILES and SELFIES tokenizers: round trips on MOSES molecules, SELFIES always valid, vocabulary
saved."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("selfies")

from vaekit.chem.corpus import load_moses_split  # noqa: E402
from vaekit.chem.molecules import canonical, is_valid  # noqa: E402
from vaekit.data.errors import DataError  # noqa: E402
from vaekit.data.tokenizers import UnknownSymbolError, tokenizer_from_json, train_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def moses_sample() -> list[str]:
    return load_moses_split("test")[:2000]


def test_smiles_tokenizer_round_trips_moses_exactly(moses_sample):
    tokenizer = train_tokenizer("smiles", moses_sample)
    for smiles in moses_sample:
        assert tokenizer.decode(tokenizer.encode(smiles)) == smiles
    # Atom-level: bracket atoms and two-letter halogens are one token each.
    assert tokenizer.split("Cl[nH+]c1Br") == ["Cl", "[nH+]", "c", "1", "Br"]


def test_selfies_tokenizer_round_trips_to_the_same_molecule(moses_sample):
    tokenizer = train_tokenizer("selfies", moses_sample[:500])
    for smiles in moses_sample[:500]:
        assert canonical(tokenizer.decode(tokenizer.encode(smiles))) == canonical(smiles)


def test_kekule_tokenizer_writes_the_same_molecule_without_aromatic_atoms(moses_sample):
    tokenizer = train_tokenizer("kekule_smiles", moses_sample)
    assert tokenizer.split("c1ccccc1O") == ["O", "C", "1", "=", "C", "C", "=", "C", "C", "=", "C", "1"]
    for smiles in moses_sample:
        written = tokenizer.decode(tokenizer.encode(smiles))
        assert canonical(written) == canonical(smiles)
        assert not set(written) & set("cnosp")  # no aromatic atom ([nH] included)
    with pytest.raises(DataError, match="not a valid molecule"):
        tokenizer.encode("C1CC")


def test_any_selfies_symbol_sequence_decodes_to_a_valid_molecule(moses_sample):
    tokenizer = train_tokenizer("selfies", moses_sample[:300])
    rng = random.Random(0)
    symbols = list(range(4, len(tokenizer)))
    carbon = tokenizer.index["[C]"]
    for _ in range(300):
        # Starting with an atom, any continuation is a valid molecule (SELFIES decodes branch or ring symbols
        # with no atom before them to the empty string).
        ids = [carbon] + [rng.choice(symbols) for _ in range(rng.randint(0, 40))]
        assert is_valid(tokenizer.decode(ids))


def test_any_selfies_sequence_whose_first_symbol_may_begin_a_molecule_is_valid(moses_sample):
    tokenizer = train_tokenizer("selfies", moses_sample[:300])
    banned = set(tokenizer.never_first())
    assert {
        tokenizer.bos_index,
        tokenizer.unk_index,
        tokenizer.index["[Branch1]"],
        tokenizer.index["[Ring1]"],
    } <= banned
    assert tokenizer.index["[C]"] not in banned and tokenizer.index["[=C]"] not in banned
    rng = random.Random(1)
    allowed = [i for i in range(4, len(tokenizer)) if i not in banned]
    symbols = list(range(1, len(tokenizer)))  # later symbols: anything but padding, <bos> and <unk> included
    for _ in range(300):
        ids = [rng.choice(allowed)] + [rng.choice(symbols) for _ in range(rng.randint(0, 40))]
        assert is_valid(tokenizer.decode(ids)), [tokenizer.vocabulary[i] for i in ids]


def test_smiles_never_begins_with_a_bond_branch_or_ring_closure(moses_sample):
    tokenizer = train_tokenizer("smiles", moses_sample)
    banned = {tokenizer.vocabulary[i] for i in tokenizer.never_first()}
    assert {"(", ")", "1", "=", "#", "<bos>", "<unk>"} <= banned
    assert not {"C", "c", "N", "Cl", "[nH]"} & banned
    # Every MOSES molecule begins with a symbol that is allowed first.
    assert not {tokenizer.split(smiles)[0] for smiles in moses_sample} & banned


def test_unknown_symbols_are_a_named_error_and_save_load_keeps_the_vocabulary(moses_sample):
    for name in ("smiles", "kekule_smiles", "selfies"):
        tokenizer = train_tokenizer(name, ["CCO", "c1ccccc1"])
        with pytest.raises(UnknownSymbolError, match="outside the"):
            tokenizer.encode("CCBr")
        again = tokenizer_from_json(tokenizer.to_json())
        assert type(again) is type(tokenizer) and again.vocabulary == tokenizer.vocabulary
        assert again.encode("c1ccccc1CCO") == tokenizer.encode("c1ccccc1CCO")
