"""On a small budget the property head learns: its QED prediction from z correlates with RDKit's on held-out
MOSES molecules (r > 0.8), through the property objective, at the posterior means."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")

from vaekit.chem.corpus import load_moses_split  # noqa: E402
from vaekit.chem.molecules import compute_properties  # noqa: E402
from vaekit.data.lines import encode_lines  # noqa: E402
from vaekit.data.tokenizers import train_tokenizer  # noqa: E402
from vaekit.registry import build, build_model  # noqa: E402
from vaekit.train import fit  # noqa: E402

TRAIN, HELD_OUT = 4000, 300


@pytest.mark.slow
def test_property_head_predicts_held_out_qed():
    smiles = load_moses_split("test")[: TRAIN + HELD_OUT]
    qed = compute_properties(smiles, ("qed",))  # (N, 1)
    tokenizer = train_tokenizer("smiles", smiles[:TRAIN])
    length = max(len(tokenizer.encode(s)) for s in smiles)
    x = encode_lines(tokenizer, smiles, length)
    y = torch.as_tensor((qed - qed[:TRAIN].mean(0)) / qed[:TRAIN].std(0), dtype=torch.float32)
    torch.manual_seed(0)
    spec = {"type": "property_sequence_vae", "vocab_size": len(tokenizer), "latent_dim": 32, "hidden": 96}
    spec.update(embed_dim=32, n_properties=1, head_hidden=[32], pad_index=0, end_index=2)
    model = build_model(spec, [length])
    objective = build("objective", {"type": "property_elbo", "weight": 100.0, "beta": 0.1})
    fit(model, objective, x[:TRAIN], y[:TRAIN], epochs=6, batch_size=64, lr=0.005, progress=False, seed=0)
    model.eval()
    with torch.no_grad():
        predicted = model.predict_properties(model.encode(x[TRAIN:]).mean)[:, 0].numpy()
    r = np.corrcoef(predicted, y[TRAIN:, 0].numpy())[0, 1]
    assert r > 0.8, f"held-out QED correlation {r:.3f}"
