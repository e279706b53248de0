"""Checkpoint folders: safetensors + JSON round trip, atomic replacement, clear errors for bad folders."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vaekit.train import CheckpointError, read_checkpoint, write_checkpoint
from vaekit.train.checkpoint import load_optimizer_state, optimizer_state


def _trained_adam() -> tuple[nn.Linear, torch.optim.Adam]:
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        layer(torch.randn(4, 3)).pow(2).sum().backward()
        optimizer.step()
    return layer, optimizer


def test_optimizer_state_round_trips_through_safetensors_and_json(tmp_path):
    layer, optimizer = _trained_adam()
    document, tensors = optimizer_state("model", optimizer)
    write_checkpoint(tmp_path / "last", layer, {"optimizers": {"model": document}, "epoch": 3}, tensors)
    checkpoint = read_checkpoint(tmp_path / "last")
    assert checkpoint.document["epoch"] == 3
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(checkpoint.model_state)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1.0)
    load_optimizer_state("model", fresh_optimizer, checkpoint.document["optimizers"]["model"], checkpoint.tensors)
    assert fresh_optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    # the next step is the same for the original and the restored pair
    batch = torch.randn(4, 3)
    for module, opt in ((layer, optimizer), (fresh, fresh_optimizer)):
        opt.zero_grad()
        module(batch).pow(2).sum().backward()
        opt.step()
    for a, b in zip(layer.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_rewrite_replaces_atomically_and_recovers_the_previous_version(tmp_path):
    layer = nn.Linear(2, 2)
    write_checkpoint(tmp_path / "last", layer, {"epoch": 1}, {"rng/0/x": torch.zeros(3, dtype=torch.uint8)})
    write_checkpoint(tmp_path / "last", layer, {"epoch": 2}, {})
    assert read_checkpoint(tmp_path / "last").document["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # no temporary folders left
    # a crash between "move the old version aside" and "move the new one in": the old one is found
    aside = tmp_path / ".last.old-crash"
    aside.mkdir()
    (tmp_path / "last").rename(aside / "checkpoint")
    assert read_checkpoint(tmp_path / "last").document["epoch"] == 2


def test_bad_folders_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        read_checkpoint(tmp_path / "missing")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "training.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a vaekit checkpoint"):
        read_checkpoint(foreign)
    write_checkpoint(tmp_path / "newer", nn.Linear(1, 1), {}, {})
    document = json.loads((tmp_path / "newer" / "training.json").read_text())
    (tmp_path / "newer" / "training.json").write_text(json.dumps({**document, "format_version": 99}))
    with pytest.raises(CheckpointError, match="upgrade vaekit"):
        read_checkpoint(tmp_path / "newer")
    write_checkpoint(tmp_path / "broken", nn.Linear(1, 1), {}, {})
    (tmp_path / "broken" / "training.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="corrupted"):
        read_checkpoint(tmp_path / "broken")
