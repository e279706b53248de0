"""The README's "Write your own model" example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parent.parent / "README.md"


def _example(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"## {heading}\n") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_write_your_own_model_example_trains_scores_saves_and_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    torch.manual_seed(0)
    exec(compile(_example("Write your own model"), str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    nll = float(re.search(r"test log-likelihood: (-?[\d.]+) nats", printed).group(1))
    assert -40 < nll < 0  # 8x8 binarized digits: well above the -44.4 nats of independent fair coins
    model = namespace["model"]
    example = type(model).examples()[0]
    assert type(example.build()) is type(model)
    assert (tmp_path / "tiny_model" / "model.safetensors").is_file()
