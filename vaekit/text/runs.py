"""Training runs on text (or any one-example-per-line sequences): ``vaekit train configs/text_ptb.yaml``.

A text run folder holds what an image run folder holds (``config.yaml``, ``metrics.json``, the
training logs and checkpoints, ``model/``), with the tokenizer saved as JSON beside the model and
text files in place of pictures: ``samples.txt``, ``reconstructions.txt`` and ``homotopy.txt``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from vaekit.config import RunConfig
from vaekit.data.errors import DataError
from vaekit.data.lines import LineReport, encode_lines
from vaekit.data.tokenizers import Tokenizer, train_tokenizer
from vaekit.decoding import DecodeOptions
from vaekit.io import atomic_write_bytes
from vaekit.registry import ConfigError, default_objective
from vaekit.text.corpus import TextCorpus
from vaekit.text.domains import SequenceDomain, domain_for
from vaekit.text.model import TextModel


def is_text_config(config: RunConfig) -> bool:
    """Whether a run config trains on lines: a built-in text or molecule corpus, a .txt/.smi file, or a
    tokenizer named (see :mod:`vaekit.text.domains`)."""
    return domain_for(config) is not None


def load_corpus_for(config: RunConfig) -> TextCorpus:
    """The corpus a text (or other line-data) config names."""
    return (domain_for(config) or SequenceDomain()).load_corpus(config)


def per_token_perplexity(nll_per_example: float, tokens_per_example: float) -> float:
    """exp(NLL / tokens): the per-word perplexity when tokens are words and the end token is counted."""
    return math.exp(nll_per_example / tokens_per_example)


def add_token_figures(metrics: dict[str, Any], ids: Tensor, pad_index: int) -> dict[str, Any]:
    """Per-token figures of a text model's metrics on the encoded examples ``ids``, in place:
    ``tokens_per_example``, ``perplexity`` and ``bits_per_token`` (with the end token counted). The
    per-dimension figures are dropped: a sentence's dimensions are its padded positions, so they would divide by
    the longest sentence's length."""
    nll = metrics.get("nll")
    tokens_per_example = float((ids != pad_index).sum(1).float().mean())
    metrics["tokens_per_example"] = tokens_per_example
    metrics["perplexity"] = None if nll is None else per_token_perplexity(nll, tokens_per_example)
    metrics["bits_per_token"] = None if nll is None else nll / (tokens_per_example * math.log(2))
    metrics["bits_per_dim"] = metrics["negative_elbo_bits_per_dim"] = None
    return metrics


def text_model_spec(
    config: RunConfig, vocab_size: int, pad_index: int, end_index: int, domain: SequenceDomain | None = None
) -> dict[str, Any]:
    """The model section with the domain's defaults and the tokenizer's ids filled in."""
    spec = (domain or SequenceDomain()).model_spec(config)
    spec.update(vocab_size=vocab_size, pad_index=pad_index, end_index=end_index)
    return spec


def usable_lines(
    tokenizer: Tokenizer, lines: list[str], max_length: int, config: RunConfig, report: LineReport
) -> list[str]:
    """The lines to encode, chosen before any target is computed for them (so the two stay aligned): without
    lines holding symbols a strict tokenizer refuses (only held-out lines can: the vocabulary is the training
    lines'; counted) and without over-long lines when those are dropped (counted)."""
    kept = lines
    if tokenizer.unknown_is_error:
        kept = [line for line in kept if not tokenizer.unknown_tokens(line)]
        if len(kept) < len(lines):
            report.notes.append(f"{len(lines) - len(kept)} line(s) with symbols outside the vocabulary skipped")
    if config.data.long_lines == "drop":
        short = [line for line in kept if len(tokenizer.encode(line)) <= max_length]
        report.dropped += len(kept) - len(short)
        kept = short
    return kept


def write_text(path: Path, lines: list[str]) -> Path:
    """Write lines atomically."""
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path


def train_text_run(
    config: RunConfig, out: str | Path, resume: bool = False, log: Callable[[str], None] = print
) -> dict:
    """Train a sequence VAE on a text corpus and write a run folder.

    Steps: read the corpus, train the tokenizer on the training lines, encode every split (bad
    lines handled as :mod:`vaekit.data.lines` says, and counted in the metrics), train with the
    one training loop, save the model with its tokenizer, evaluate on the test split (NLL by
    importance sampling with ``evaluate.k`` samples, per-token perplexity with the end token
    counted, KL, active units, mutual information) and write samples and a homotopy.

    Returns:
        The test metrics (also in ``out/metrics.json``).
    """
    from vaekit.evaluate import evaluate
    from vaekit.runs import (
        METRICS_FILE,
        MODEL_DIR,
        RecordConfig,
        build_run_model,
        evaluation_notice,
        fit_arguments,
        write_json,
    )
    from vaekit.train import fit

    out = Path(out)
    domain = domain_for(config) or SequenceDomain()
    corpus = domain.load_corpus(config)
    if not corpus.train:
        raise DataError(f"{corpus.name} has no training lines")
    if config.data.max_length is not None and int(config.data.max_length) < 2:
        raise ConfigError(
            f"data.max_length must be at least 2 (a symbol and the end token), or null for the longest line; got "
            f"{config.data.max_length}"
        )
    tokenizer = train_tokenizer(config.data.tokenizer or domain.default_tokenizer, corpus.train)
    longest = max(len(tokenizer.encode(line)) for line in corpus.train)
    max_length = int(config.data.max_length or longest)
    report = corpus.report
    corpus.train, corpus.validation, corpus.test = (
        usable_lines(tokenizer, lines, max_length, config, report)
        for lines in (corpus.train, corpus.validation, corpus.test)
    )
    spec = text_model_spec(config, len(tokenizer), tokenizer.pad_index, tokenizer.eos_index, domain)
    domain.fit_targets(corpus.train, log)
    splits, targets = {}, {}
    for name, lines in (("train", corpus.train), ("validation", corpus.validation), ("test", corpus.test)):
        if lines:
            splits[name] = encode_lines(
                tokenizer, lines, max_length, config.data.long_lines, report=report, source=name
            )
            targets[name] = domain.targets(lines)
    if "train" not in splits:
        raise DataError(f"{corpus.name} has no training lines left to use")
    objective_section = {"type": default_objective(spec["type"]), **config.objective}
    model, objective = build_run_model(spec, [max_length], objective_section, config.seed)
    fit_kwargs, train = fit_arguments(config.train)
    resolved = copy.deepcopy(config)
    resolved.model = {k: v for k, v in spec.items() if k not in ("vocab_size", "pad_index", "end_index")}
    resolved.objective, resolved.train = objective_section, train
    resolved.data.max_length = max_length
    out.mkdir(parents=True, exist_ok=True)
    if report.summary():
        log(f"data: {report.summary()}")
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"training {spec['type']} ({n_params:,} parameters) on {corpus.name}: {len(corpus.train)} lines, "
        f"{tokenizer.name} tokenizer of {len(tokenizer)} tokens, max length {max_length}"
    )
    started = time.time()
    torch.manual_seed(config.seed)
    fit(
        model, objective, splits["train"], targets["train"], splits.get("validation"), targets.get("validation"),
        run_dir=out, resume=resume, seed=config.seed, callbacks=[RecordConfig(out, resolved)], **fit_kwargs,
    )  # fmt: skip
    text_model = TextModel(model, tokenizer, config.data.long_lines)
    extra = {"data": {"name": corpus.name, "max_length": max_length}, **domain.saved_extra()}
    text_model.save(out / MODEL_DIR, extra=extra)
    log(f"model saved in {out / MODEL_DIR} ({time.time() - started:.0f} s of training)")
    split = "test" if "test" in splits else "train"
    test = splits[split]
    # A conditional model (e.g. a molecule VAE at target properties) is evaluated at the examples' own conditions.
    test_y = targets.get(split) if model.conditioner is not None else None
    log(evaluation_notice(split, len(test), config.evaluate.k, "writing examples" if config.evaluate.plots else None))
    metrics = evaluate(model, test, test_y, k=config.evaluate.k, seed=config.seed)
    metrics = {"data": corpus.name, "split": split, **metrics}
    add_token_figures(metrics, test, tokenizer.pad_index)
    metrics["data_report"] = {k: v for k, v in vars(report).items() if k != "notes"}
    metrics.update(domain.finish(text_model, corpus, out, config))
    write_json(out / METRICS_FILE, metrics)
    return metrics


def write_text_examples(text_model: TextModel, lines: list[str], out: Path, seed: int = 0) -> list[Path]:
    """``samples.txt`` (greedy decodings of prior draws), ``reconstructions.txt`` and ``homotopy.txt``."""
    greedy = DecodeOptions("greedy")
    samples = text_model.sample(10, greedy, seed=seed)
    originals = lines[:10]
    recon = text_model.reconstruct(originals, greedy)
    paired = [f"{a}\n  -> {b}" for a, b in zip(originals, recon)]
    homotopy = text_model.interpolate(lines[0], lines[min(1, len(lines) - 1)], 8, greedy)
    return [
        write_text(out / "samples.txt", samples),
        write_text(out / "reconstructions.txt", paired),
        write_text(out / "homotopy.txt", [f"from: {lines[0]}", *homotopy, f"to:   {lines[min(1, len(lines) - 1)]}"]),
    ]
