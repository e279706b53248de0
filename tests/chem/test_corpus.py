"""Molecule files and MOSES: invalid SMILES counted and skipped with a report, a file without a valid molecule
a named error, MOSES read from the installed molsets package."""

from __future__ import annotations

import pytest

pytest.importorskip("rdkit")

from vaekit.chem.corpus import (  # noqa: E402
    NoValidMoleculeError,
    load_molecule_corpus,
    load_moses_split,
    read_smiles_file,
)
from vaekit.data.errors import DataError  # noqa: E402

GOOD = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "OC(=O)c1ccccc1", "C1CCOC1", "CC(C)O", "CCOC(C)=O"]


def test_smi_file_skips_and_reports_invalid_smiles(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("smiles name\n" + "\n".join(f"{s} m{i}" for i, s in enumerate(GOOD)) + "\nC1CC broken\nxyz bad\n\n")
    corpus = load_molecule_corpus(path=path, validation=0.25, test=0.25)
    assert sorted(corpus.train + corpus.validation + corpus.test) == sorted(GOOD)
    assert "2 invalid SMILES" in corpus.report.summary() and "'C1CC'" in corpus.report.summary()
    assert corpus.report.empty == 1


def test_csv_reads_the_smiles_column_by_name_or_as_told(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text("id,SMILES,qed\n" + "\n".join(f"{i},{s},0.5" for i, s in enumerate(GOOD)) + "\n")
    assert read_smiles_file(path) == GOOD
    other = tmp_path / "other.csv"
    other.write_text("id,structure\n1,CCO\n2,CCN\n")
    assert read_smiles_file(other, column="structure") == ["CCO", "CCN"]
    with pytest.raises(DataError, match=r"no SMILES column .*\['id', 'structure'\]"):
        read_smiles_file(other)


def test_a_file_with_no_valid_molecule_is_a_named_error(tmp_path):
    path = tmp_path / "bad.smi"
    path.write_text("C1CC\nxyz\nC(C\n")
    with pytest.raises(NoValidMoleculeError, match="no valid molecule"):
        load_molecule_corpus(path=path)


def test_moses_splits_have_their_published_sizes_and_limit_samples_them():
    assert len(load_moses_split("test")) == 176074
    corpus = load_molecule_corpus("moses", limit=300, validation=0.1, test=0.2, seed=0)
    assert (len(corpus.train), len(corpus.validation), len(corpus.test)) == (300, 30, 60)
    assert not set(corpus.train) & set(corpus.validation)
    assert corpus.train == load_molecule_corpus("moses", limit=300, validation=0.1, test=0.2, seed=0).train
