"""Molecules: SMILES/SELFIES sequence VAEs with a property head, MOSES data and metrics, latent optimisation.

Built on the shared sequence parts (tokenizers in :mod:`vaekit.data.molecule_tokenizers`, the text run path
in :mod:`vaekit.text`); RDKit, SELFIES and fcd-torch come with ``pip install vaekit[chem]`` and are imported
only when molecules are touched.
"""

from vaekit.chem.corpus import NoValidMoleculeError, load_molecule_corpus, load_moses_split, read_smiles_file
from vaekit.chem.model import MoleculeModel, is_molecule_model

__all__ = [
    "MoleculeModel",
    "NoValidMoleculeError",
    "is_molecule_model",
    "load_molecule_corpus",
    "load_moses_split",
    "read_smiles_file",
]
