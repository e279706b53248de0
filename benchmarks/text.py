"""Sentence VAE on Penn Treebank (Mikolov split, 10k vocabulary) against an LSTM/GRU language model
with the same decoder, the collapse defences side by side, and training speed against a plain
PyTorch loop of the same model.

Parts (``--parts``, all by default), each appended to benchmarks/RESULTS.md:

- ``speed``: training tokens/s of the sequence VAE through ``vaekit.train.fit`` and through a minimal
  hand-written loop of the same network (Sentence-VAE style: length-sorted packed sequences, logits
  over the padded batch, cross-entropy ignoring padding), alternated in rounds, median ratio.
- ``defences``: the same smaller model trained for ``--defence-steps`` steps each with: the plain ELBO,
  linear / logistic / cyclical KL annealing, free bits, word dropout and aggressive encoder training;
  KL, active units and mutual information on validation sentences.
- ``main``: the anchor's architecture (GRU 256, latent 16, embedding 300; ``--hidden``, ``--latent``,
  ``--embed``, ``--cell`` change it) and the language model (the same decoder network with a constant
  context), both for ``--budget-epochs`` epochs (cosine learning rate), or the VAE for ``--budget-steps``
  (capped by ``--budget-minutes``) and the language model for as many steps; test NLL by importance
  sampling (``--k`` samples) on ``--eval-sentences`` test sentences (all with 0), per-word perplexity
  with the end token counted, the paired VAE - LM difference with its standard error; ELBO, KL, active
  units and mutual information on ``--figure-sentences`` test sentences (all with 0); and greedy
  homotopies between test sentences.
- ``train-vae`` / ``train-lm``: train one of the two models into ``--run-dir`` (two processes train
  them in parallel); ``main`` then loads both from there instead of training.
- ``homotopies``: beam-search and greedy homotopies of the VAE in ``--run-dir``.

The recipe of RESULTS.md (the two trainings in parallel, one core each, then the evaluation):

    R="--budget-epochs 6 --lr 1.5e-3 --dropout 0.3 --run-dir runs/ptb-bench"
    python benchmarks/text.py --parts train-vae $R --threads 1 &
    python benchmarks/text.py --parts train-lm $R --threads 1; wait
    python benchmarks/text.py --parts main,homotopies $R --eval-sentences 1000 --k 500 --figure-sentences 0

The larger budget the 103.97 goal calls for (a 1024-unit decoder trained five times longer), not run here: about
6x the multiply-adds per token of GRU 256, so about 20 hours per model on the 2-core machine (``--device cuda``
trains and evaluates both models on a GPU):

    R="--budget-epochs 30 --hidden 1024 --embed 512 --lr 1e-3 --dropout 0.5 --device cuda --run-dir runs/ptb-1024"
    python benchmarks/text.py --parts train-vae $R & python benchmarks/text.py --parts train-lm $R; wait
    python benchmarks/text.py --parts main,homotopies $R --eval-sentences 0 --k 500 --figure-sentences 0

The language model gets the same budget: the same epochs and batches (seed 0), or the VAE's number of
optimizer steps, whatever the load of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

import vaekit
from vaekit.data.lines import encode_lines
from vaekit.data.tokenizers import train_tokenizer
from vaekit.decoding import DecodeOptions
from vaekit.distributions.sequence import AutoregressiveLikelihood
from vaekit.evaluate import active_units, elbo_terms, log_likelihood, mutual_information, posterior_statistics
from vaekit.nn.sequence import RecurrentTokenDecoder
from vaekit.objectives import LossOutput
from vaekit.registry import build
from vaekit.text import TextModel, load_ptb
from vaekit.train import fit
from vaekit.train.device import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ANCHOR = "Sentence-VAE reference (GRU 256, latent 16, embedding 300, 4 epochs, GPU): test NLL 103.97, KL 7.27"
HOMOTOPY_PAIRS = 3


# --------------------------------------------------------------------------- language model
class LanguageModel(nn.Module):
    """The VAE's decoder network with a constant (zero) context: a plain GRU/LSTM language model."""

    def __init__(self, network: RecurrentTokenDecoder, length: int, pad: int, end: int):
        super().__init__()
        self.likelihood = AutoregressiveLikelihood(network, length, ignore_index=pad, end_index=end)
        self.context_dim = network.context_dim

    def log_prob(self, x: Tensor) -> Tensor:
        context = x.new_zeros((x.shape[0], self.context_dim), dtype=torch.float)
        return self.likelihood(context, 1).log_prob(x)


def lm_objective(model: LanguageModel, batch: Tensor, step: int) -> LossOutput:
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    nll = -model.log_prob(x).mean()
    return LossOutput(nll, {"loss": nll.detach(), "nll": nll.detach()})


@torch.no_grad()
def lm_nll(model: LanguageModel, x: Tensor, batch: int = 500) -> Tensor:
    model.eval()
    return torch.cat([-model.log_prob(x[i : i + batch]) for i in range(0, len(x), batch)])


# --------------------------------------------------------------------------- plain loop
class PlainSentenceVAE(nn.Module):
    """The same network written as a minimal PyTorch model (as Sentence-VAE's reference code does)."""

    def __init__(self, vocab: int, embed: int, hidden: int, latent: int, pad: int):
        super().__init__()
        self.pad = pad
        self.enc_embed = nn.Embedding(vocab, embed)
        self.encoder = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 2 * latent)
        self.to_context = nn.Linear(latent, hidden)
        self.dec_embed = nn.Embedding(vocab + 2, embed)
        self.init_state = nn.Linear(hidden, hidden)
        self.decoder = nn.GRU(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.start = vocab

    def loss(self, x: Tensor) -> Tensor:
        lengths = (x != self.pad).sum(1)
        order = lengths.argsort(descending=True)
        x, lengths = x[order], lengths[order]
        x = x[:, : int(lengths[0])]
        packed = nn.utils.rnn.pack_padded_sequence(self.enc_embed(x), lengths.cpu(), batch_first=True)
        _, h = self.encoder(packed)
        mu, logvar = self.head(torch.cat([h[0], h[1]], -1)).chunk(2, -1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        h0 = torch.tanh(self.init_state(self.to_context(z)))[None]
        inputs = torch.cat([torch.full_like(x[:, :1], self.start), x[:, :-1]], 1).masked_fill(
            torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1) == self.pad, self.start + 1
        )
        packed = nn.utils.rnn.pack_padded_sequence(self.dec_embed(inputs), lengths.cpu(), batch_first=True)
        out, _ = self.decoder(packed, h0)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        logits = self.out(out)  # (B, T, V) over the padded batch
        rec = F.cross_entropy(logits.transpose(1, 2), x, ignore_index=self.pad, reduction="sum") / x.shape[0]
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(-1).mean()
        return rec + kl


def plain_steps(model: PlainSentenceVAE, x: Tensor, steps: int, batch: int, seed: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = x[torch.randint(0, len(x), (batch,), generator=gen)]
        loss = model.loss(b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


# --------------------------------------------------------------------------- helpers
def vae_spec(vocab: int, pad: int, end: int, embed: int, hidden: int, latent: int, **extra: object) -> dict:
    spec = {"type": "sequence_vae", "vocab_size": vocab, "pad_index": pad, "end_index": end, "latent_dim": latent}
    spec.update(embed_dim=embed, hidden=hidden, cell="gru")
    spec.update(extra)
    return spec


def standard_error(values: Tensor) -> float:
    """Standard error of the mean of per-sentence values (0 for a single value)."""
    return float(values.std() / math.sqrt(len(values))) if len(values) > 1 else 0.0


def latent_figures(model: nn.Module, x: Tensor) -> dict[str, float]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        terms = elbo_terms(model, x)
        means, logvars = posterior_statistics(model, x)
    units, _ = active_units(means)
    return {
        "elbo": float(terms["elbo"]),
        "kl": float(terms["kl"]),
        "au": units,
        "mi": mutual_information(means, logvars, seed=0),
    }


def run_speed(args: argparse.Namespace, x: Tensor, vocab: int, pad: int, end: int, lines: list[str]) -> None:
    tokens_per_step = args.batch * float((x != pad).sum(1).float().mean())
    rates: dict[str, list[float]] = {"vaekit": [], "plain": []}
    for round_ in range(args.speed_rounds):
        torch.manual_seed(round_)
        model = vaekit.build_model(vae_spec(vocab, pad, end, 300, 256, 16), [x.shape[1]])
        _, wall, _ = common.timed(
            lambda m=model, r=round_: fit(
                m, build("objective", "elbo"), x, epochs=1, batch_size=args.batch, max_steps=args.speed_steps,
                progress=False, seed=r,
            )
        )  # fmt: skip
        rates["vaekit"].append(args.speed_steps * tokens_per_step / wall)
        torch.manual_seed(round_)
        plain = PlainSentenceVAE(vocab, 300, 256, 16, pad)
        _, wall, _ = common.timed(lambda p=plain, r=round_: plain_steps(p, x, args.speed_steps, args.batch, r))
        rates["plain"].append(args.speed_steps * tokens_per_step / wall)
        print(f"speed round {round_}: vaekit {rates['vaekit'][-1]:.0f} tok/s, plain {rates['plain'][-1]:.0f} tok/s")
    ratios = [a / b for a, b in zip(rates["vaekit"], rates["plain"])]
    rows = [
        ["vaekit fit (packed, real positions projected)", common.median(rates["vaekit"]), common.median(ratios)],
        ["plain PyTorch loop (packed, padded logits)", common.median(rates["plain"]), 1.0],
    ]
    body = (
        f"Training tokens/s of the anchor's sequence VAE (GRU 256, latent 16, embedding 300, vocabulary {vocab}), "
        f"batch {args.batch}, {args.speed_steps} steps per measurement, {args.speed_rounds} alternated rounds "
        "(fit's set-up time included); ratio = median of the per-round ratios.\n\n"
        + common.markdown_table(["loop", "tokens/s (median)", "ratio to plain"], rows)
    )
    print(body)
    common.append_results("Text: training speed, sequence VAE vs a plain PyTorch loop (PTB)", body)


def defences(steps: int) -> dict[str, tuple[dict, dict]]:
    """Each defence as (objective config, model extras), its schedules scaled to a run of ``steps`` steps."""
    half = max(1, steps // 2)
    return {
        "plain ELBO": ({"type": "elbo"}, {}),
        "linear annealing": ({"type": "elbo", "beta": {"type": "linear", "steps": half}}, {}),
        "logistic annealing": (
            {"type": "elbo", "beta": {"type": "logistic", "rate": 10.0 / steps, "midpoint": steps // 4}},
            {},
        ),
        "cyclical annealing": ({"type": "elbo", "beta": {"type": "cyclical", "period": max(1, steps // 3)}}, {}),
        "free bits 0.5/dim": ({"type": "elbo", "free_bits": 0.5}, {}),
        "word dropout 0.5": ({"type": "elbo"}, {"word_dropout": 0.5}),
        "aggressive encoder": ({"type": "aggressive_elbo", "aggressive_steps": half, "inner_steps": 5}, {}),
    }


def run_defences(args: argparse.Namespace, x: Tensor, val: Tensor, vocab: int, pad: int, end: int) -> None:
    rows = []
    for name, (objective, extras) in defences(args.defence_steps).items():
        torch.manual_seed(0)
        model = vaekit.build_model(vae_spec(vocab, pad, end, 64, 128, 16, **extras), [x.shape[1]])
        history = fit(
            model, build("objective", objective), x, epochs=100, batch_size=args.batch, lr=args.lr,
            max_steps=args.defence_steps, max_seconds=args.defence_minutes * 60, progress=False, seed=0,
        )  # fmt: skip
        steps = history.steps
        figures = latent_figures(model, val)
        rows.append([name, steps, -figures["elbo"], figures["kl"], figures["au"], figures["mi"]])
        print(name, rows[-1])
    body = (
        f"Each defence trains the same smaller sequence VAE (GRU 128, embedding 64, latent 16) from seed 0 for "
        f"{args.defence_steps} steps (at most {args.defence_minutes} minutes; batch {args.batch}, Adam lr {args.lr}); "
        f"figures on {len(val)} validation sentences. Schedules scale with the run: linear over half of it, "
        "logistic centred at a quarter (rate 10/steps), cyclical with 3 periods (rising over the first half "
        "of each); aggressive: up to 5 encoder updates per step for the first half.\n\n"
        + common.markdown_table(["defence", "steps", "-ELBO", "KL", "active units", "MI"], rows)
    )
    print(body)
    common.append_results("Text: posterior-collapse defences on PTB (KL, active units, MI)", body)


def budget_kwargs(args: argparse.Namespace) -> dict:
    """fit()'s budget arguments: whole epochs with a cosine learning rate, or a step/minute cap at a constant one."""
    if args.budget_epochs:
        return {"epochs": args.budget_epochs, "lr_schedule": "cosine"}
    return {"epochs": 1000, "max_steps": args.budget_steps, "max_seconds": args.budget_minutes * 60}


def device_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"a {torch.cuda.get_device_name(device)} GPU"
    return "this shared CPU" if device.type == "cpu" else str(device)


def budget_text(args: argparse.Namespace) -> str:
    if args.budget_epochs:
        return f"both models trained for {args.budget_epochs} epochs"
    return (
        f"the VAE trained for at most {args.budget_steps} steps or {args.budget_minutes} minutes, the language "
        "model for as many steps"
    )


def train_vae(args: argparse.Namespace, x: Tensor, vocab: int, pad: int, end: int) -> tuple[nn.Module, dict]:
    objective = {"type": "elbo", "beta": {"type": "linear", "steps": args.anneal_steps}, "free_bits": args.free_bits}
    torch.manual_seed(0)
    extras = {"word_dropout": args.word_dropout, "dropout": args.dropout, "cell": args.cell}
    spec = vae_spec(vocab, pad, end, args.embed, args.hidden, args.latent, **extras)
    model = vaekit.build_model(spec, [x.shape[1]])
    started = time.perf_counter()
    history = fit(
        model, build("objective", objective), x, batch_size=args.batch, lr=args.lr, progress=False, seed=0,
        grad_clip=5.0, device=args.device, **budget_kwargs(args),
    )  # fmt: skip
    return model, {"seconds": time.perf_counter() - started, "steps": history.steps}


def build_lm(args: argparse.Namespace, vocab: int, pad: int, end: int, length: int) -> nn.Module:
    """The language model: the VAE's decoder network (by default GRU 256, embedding 300) with a constant context."""
    network = RecurrentTokenDecoder(
        vocab, args.hidden, embed_dim=args.embed, hidden=args.hidden, cell=args.cell, dropout=args.dropout
    )
    return LanguageModel(network, length, pad, end)


def train_lm(args: argparse.Namespace, x: Tensor, vocab: int, pad: int, end: int, steps: int | None) -> tuple:
    """The language model, for ``steps`` optimizer steps (the VAE's), or the same epoch budget."""
    torch.manual_seed(0)
    lm = build_lm(args, vocab, pad, end, x.shape[1])
    budget = budget_kwargs(args)
    if not args.budget_epochs:
        # The same budget in optimizer steps (the same batches, seed 0): wall time on a shared machine is not fair.
        budget.update(max_steps=steps, max_seconds=4 * args.budget_minutes * 60)
    started = time.perf_counter()
    history = fit(
        lm, lm_objective, x, batch_size=args.batch, lr=args.lr, progress=False, seed=0, grad_clip=5.0,
        device=args.device, **budget,
    )  # fmt: skip
    return lm, {"seconds": time.perf_counter() - started, "steps": history.steps}


def save_lm(lm: nn.Module, info: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in lm.state_dict().items()}, directory / "lm.safetensors")
    (directory / "lm.json").write_text(json.dumps(info))


def run_train_part(args: argparse.Namespace, which: str, x: Tensor, vocab: int, pad: int, end: int, tokenizer) -> None:
    """Train one of the two models into ``--run-dir`` (so the VAE and the LM can train in parallel processes)."""
    if not args.run_dir or not args.budget_epochs:
        raise SystemExit("train-vae / train-lm need --run-dir and --budget-epochs (the shared budget)")
    directory = Path(args.run_dir)
    if which == "vae":
        model, info = train_vae(args, x, vocab, pad, end)
        TextModel(model, tokenizer).save(directory / "vae")
        (directory / "vae.json").write_text(json.dumps(info))
    else:
        lm, info = train_lm(args, x, vocab, pad, end, None)
        save_lm(lm, info, directory)
    print(which, info)


def trained_models(args: argparse.Namespace, x: Tensor, vocab: int, pad: int, end: int) -> tuple:
    """The VAE and the LM with their time and steps: from ``--run-dir`` when trained there, else trained now."""
    directory = Path(args.run_dir) if args.run_dir else None
    if directory is not None and (directory / "vae.json").exists():
        model = TextModel.load(directory / "vae").model
        vae_info = json.loads((directory / "vae.json").read_text())
    else:
        model, vae_info = train_vae(args, x, vocab, pad, end)
    if directory is not None and (directory / "lm.json").exists():
        lm = build_lm(args, vocab, pad, end, x.shape[1])
        lm.load_state_dict(load_file(directory / "lm.safetensors"))
        lm_info = json.loads((directory / "lm.json").read_text())
    else:
        lm, lm_info = train_lm(args, x, vocab, pad, end, vae_info["steps"])
    return model, vae_info, lm, lm_info


def homotopy_text(text_model: TextModel, test_lines: list[str], options: DecodeOptions, pairs: int) -> str:
    """The homotopies (8 points) between consecutive pairs of the short (6-14 word) test sentences, indented."""
    short = [i for i, line in enumerate(test_lines) if 6 <= len(line.split()) <= 14]
    blocks = []
    for i in range(pairs):
        a, b = test_lines[short[2 * i]], test_lines[short[2 * i + 1]]
        path = text_model.interpolate(a, b, 8, options)
        blocks.append("\n".join([f"    from: {a}", *[f"    {j}. {s}" for j, s in enumerate(path)], f"    to:   {b}"]))
    return "\n\n".join(blocks)


def run_homotopies(args: argparse.Namespace, test_lines: list[str]) -> None:
    """Homotopies of the VAE trained in ``--run-dir``, greedy and beam-search decoded (no training, no NLL)."""
    directory = Path(args.run_dir or "")
    if not (directory / "vae.json").exists():
        raise SystemExit("the homotopies part needs --run-dir holding a trained VAE (run --parts train-vae first)")
    text_model = TextModel.load(directory / "vae")
    text_model.model.eval()
    beam = DecodeOptions("beam", beam=5)
    body = (
        f'The VAE of `{directory.name}` (trained by `--parts train-vae`, the model of the latest "sentence VAE vs '
        f'language model" run when it used the same run folder). Eight evenly spaced points between the posterior '
        f"means of two test sentences, the first {args.homotopy_pairs} pairs of short (6-14 word) test sentences.\n\n"
        "Beam search (beam 5):\n\n"
        + homotopy_text(text_model, test_lines, beam, args.homotopy_pairs)
        + "\n\nGreedy:\n\n"
        + homotopy_text(text_model, test_lines, DecodeOptions("greedy"), args.homotopy_pairs)
    )
    print(body)
    common.append_results("Text: homotopies between PTB test sentences (beam search and greedy)", body)


def run_main(
    args: argparse.Namespace, x: Tensor, test: Tensor, vocab: int, pad: int, end: int, tokenizer, test_lines
) -> None:
    model, vae_info, lm, lm_info = trained_models(args, x, vocab, pad, end)
    vae_seconds, steps_vae, lm_seconds, lm_steps = (
        vae_info["seconds"], vae_info["steps"], lm_info["seconds"], lm_info["steps"]
    )  # fmt: skip
    # fit hands the models back on the CPU; evaluate them where they trained (importance sampling dominates)
    device = resolve_device(args.device)
    model, lm = model.to(device).eval(), lm.to(device)
    gen = torch.Generator().manual_seed(0)
    subset = torch.randperm(len(test), generator=gen)[: args.eval_sentences] if args.eval_sentences else None
    sub = test if subset is None else test[subset]
    tokens = float((sub != pad).sum(1).float().mean())
    torch.manual_seed(0)
    nll_vae = -log_likelihood(model, sub, k=args.k, max_pairs=args.max_pairs)
    nll_lm_sub = lm_nll(lm, sub)
    wide = (
        test if not args.figure_sentences else test[torch.randperm(len(test), generator=gen)[: args.figure_sentences]]
    )
    nll_lm_all = lm_nll(lm, wide)
    figures = latent_figures(model, wide)
    all_tokens = float((wide != pad).sum(1).float().mean())
    ppl = math.exp(float(nll_vae.mean()) / tokens)
    rows = [
        [
            "sentence VAE", f"{vae_seconds / 60:.1f} min", steps_vae, len(sub), float(nll_vae.mean()), ppl,
            -figures["elbo"], -figures["elbo"] - figures["kl"], figures["kl"], figures["au"], figures["mi"],
        ],
        [
            "language model (same decoder)", f"{lm_seconds / 60:.1f} min", lm_steps, len(sub),
            float(nll_lm_sub.mean()), math.exp(float(nll_lm_sub.mean()) / tokens),
            float(nll_lm_all.mean()), float(nll_lm_all.mean()), 0.0, 0, 0.0,
        ],
    ]  # fmt: skip
    header = ["model", "time", "steps", "sentences", "NLL", "perplexity", "-ELBO (wider set)", "reconstruction term"]
    header += ["KL", "AU", "MI"]
    lm_all_ppl = math.exp(float(nll_lm_all.mean()) / all_tokens)
    # Standard errors over the sentences: the subset is a sample of the test set, and the paired difference
    # (the same sentences under both models) is what decides the comparison with the language model.
    difference = nll_vae - nll_lm_sub
    spread = (
        f"Sampling error over the {len(sub)} sentences: VAE NLL {float(nll_vae.mean()):.2f} ± "
        f"{standard_error(nll_vae):.2f}; paired difference VAE − language model {float(difference.mean()):+.2f} ± "
        f"{standard_error(difference):.2f} nats per sentence (± one standard error)."
    )
    goal_nll = float(nll_vae.mean()) < 103.97 and figures["kl"] >= 5
    goal_lm = float(nll_vae.mean()) <= float(nll_lm_sub.mean())
    text_model = TextModel(model, tokenizer)
    body = (
        f"Anchor: {ANCHOR}.\n\n"
        f"Here: {args.cell.upper()} {args.hidden}, latent {args.latent}, embedding {args.embed}; {budget_text(args)}, "
        f"on {device_text(device)} (batch {args.batch}, "
        f"Adam lr {args.lr}{', cosine to 0' if args.budget_epochs else ''}, decoder dropout {args.dropout}, "
        f"KL weight linear over {args.anneal_steps} steps, free bits {args.free_bits} nats/dimension, word dropout "
        f"{args.word_dropout}). NLL in nats per sentence: importance sampling with k = {args.k} for the VAE, exact for "
        f"the language model, on {len(sub)} test sentences drawn with seed 0 (mean {tokens:.2f} tokens with the end "
        f"token); -ELBO, KL, active units and MI over {len(wide)} of the {len(test)} test sentences (seed 0). The "
        f"language model's NLL on those: {float(nll_lm_all.mean()):.2f} (perplexity {lm_all_ppl:.1f}).\n\n"
        + common.markdown_table(header, rows)
        + "\n\nThe reconstruction term is E_q[-log p(x|z)] = -ELBO - KL, the figure Sentence-VAE's README reports as "
        '"NLL" (its loss_fn\'s NLL_loss, with sentences cut at 60 tokens); its -ELBO is about 103.97 + 7.27 = 111.2. '
        "The goal compares this run's importance-sampled NLL, a true likelihood bound, with 103.97."
        + f"\n\n{spread}"
        + f"\n\nGoal NLL < 103.97 with KL >= 5: {'met' if goal_nll else 'not met'}; "
        f"NLL <= the language model of the same budget: {'met' if goal_lm else 'not met'}.\n\n"
        "Homotopies (greedy decoding of 8 evenly spaced points between the posterior means of two test sentences):\n\n"
        + homotopy_text(text_model, test_lines, DecodeOptions("greedy"), HOMOTOPY_PAIRS)
    )
    print(body)
    common.append_results("Text: sentence VAE vs language model on PTB test", body)
    if args.save:
        text_model.save(args.save)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="speed,defences,main")
    parser.add_argument("--budget-minutes", type=float, default=20.0, help="wall-clock cap of the VAE's training")
    parser.add_argument("--budget-steps", type=int, default=None, help="optimizer steps of both models")
    parser.add_argument("--budget-epochs", type=int, default=None, help="epochs of both models (cosine lr)")
    parser.add_argument("--dropout", type=float, default=0.0, help="decoder embedding/output dropout")
    parser.add_argument("--hidden", type=int, default=256, help="GRU/LSTM width of the main models (anchor: 256)")
    parser.add_argument("--embed", type=int, default=300, help="embedding size of the main models (anchor: 300)")
    parser.add_argument("--latent", type=int, default=16, help="latent dimensions of the main VAE (anchor: 16)")
    parser.add_argument("--cell", choices=("gru", "lstm"), default="gru", help="recurrent cell of the main models")
    parser.add_argument("--device", default="auto", help="where the main models train and are evaluated")
    parser.add_argument("--train-sentences", type=int, default=0, help="train on the first N (0: all; smoke tests)")
    parser.add_argument("--run-dir", default=None, help="train-vae/train-lm save here; main loads from here")
    parser.add_argument("--defence-minutes", type=float, default=10.0, help="wall-clock cap per defence")
    parser.add_argument("--defence-steps", type=int, default=300, help="optimizer steps per defence")
    parser.add_argument("--eval-sentences", type=int, default=300, help="test sentences for the IS NLL (0: all)")
    parser.add_argument("--figure-sentences", type=int, default=0, help="test sentences for ELBO/KL/AU/MI (0: all)")
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--homotopy-pairs", type=int, default=6, help="sentence pairs of the homotopies part")
    parser.add_argument("--max-pairs", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--anneal-steps", type=int, default=1000)
    parser.add_argument("--free-bits", type=float, default=0.35)
    parser.add_argument("--word-dropout", type=float, default=0.0)
    parser.add_argument("--speed-steps", type=int, default=20)
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", default=None, help="save the main model (with its tokenizer) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    corpus = load_ptb()
    tokenizer = train_tokenizer({"type": "word", "max_vocab": None}, corpus.train)
    length = max(len(tokenizer.encode(line)) for line in corpus.train)
    x = encode_lines(tokenizer, corpus.train[: args.train_sentences or None], length)
    val = encode_lines(tokenizer, corpus.validation, length)
    test = encode_lines(tokenizer, corpus.test, length)
    vocab, pad, end = len(tokenizer), tokenizer.pad_index, tokenizer.eos_index
    print(f"PTB: {len(x)} / {len(val)} / {len(test)} sentences, vocabulary {vocab}, max length {length}")
    if "speed" in parts:
        run_speed(args, x, vocab, pad, end, corpus.train)
    if "defences" in parts:
        run_defences(args, x, val[:500], vocab, pad, end)
    for which in ("vae", "lm"):
        if f"train-{which}" in parts:
            run_train_part(args, which, x, vocab, pad, end, tokenizer)
    if "main" in parts:
        run_main(args, x, test, vocab, pad, end, tokenizer, corpus.test)
    if "homotopies" in parts:
        run_homotopies(args, corpus.test)


if __name__ == "__main__":
    main()
