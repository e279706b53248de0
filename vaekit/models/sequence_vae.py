"""A VAE for token sequences, composed of the ordinary VAE parts:

recurrent encoder -> Gaussian posterior;  z -> linear decoder -> context
-> autoregressive likelihood (recurrent or causal-Transformer network, teacher forcing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from vaekit.models.base import ModelExample
from vaekit.models.vae import VAE
from vaekit.nn.sequence import sequence_decoder_spec
from vaekit.registry import build, register, register_builder


@register("model", "sequence_vae")
class SequenceVAE(VAE):
    """A VAE over token sequences (built by the ``sequence_vae`` builder): the VAE composition with a
    recurrent encoder and an autoregressive likelihood. It also trains with aggressive encoder updates."""

    objective_names: ClassVar[tuple[str, ...]] = ("elbo", "iwae", "aggressive_elbo")

    @classmethod
    def examples(cls) -> list[ModelExample]:
        # Token ids 0..5 with 0 as padding and 2 as the end token: rows of different lengths.
        x = torch.tensor([[3, 4, 5, 2, 0, 0], [4, 4, 2, 0, 0, 0], [5, 3, 3, 4, 3, 2], [1, 2, 0, 0, 0, 0]])
        base = {"type": "sequence_vae", "vocab_size": 6, "latent_dim": 2, "embed_dim": 4, "hidden": 8}
        base.update(pad_index=0, end_index=2)
        return [
            # aggressive_steps 0: the contract checks that every parameter gets a gradient, which the aggressive
            # phase withholds from the encoder on purpose (tests/objectives covers that phase).
            ModelExample(
                base, x, objectives={"elbo": {}, "iwae": {"k": 3}, "aggressive_elbo": {"aggressive_steps": 0}}
            ),
            ModelExample(
                {**base, "decoder": "transformer", "transformer_width": 8, "transformer_heads": 2, "cell": "lstm"},
                x,
                objectives={"elbo": {"free_bits": 0.1}},
            ),
            # The hierarchical (conductor + bar) decoder: two bars of three tokens, padding within the second.
            ModelExample(
                {**base, "decoder": {"type": "hierarchical", "steps_per_bar": 3, "conductor_hidden": 8}},
                x,
                objectives={"elbo": {"beta": 0.5, "free_bits": 0.1}},
            ),
        ]


@register_builder("sequence_vae")
def build_sequence_vae(
    data_shape: Sequence[int],
    vocab_size: int,
    latent_dim: int = 16,
    decoder: str | dict[str, Any] = "recurrent",
    cell: str = "gru",
    embed_dim: int = 32,
    hidden: int = 128,
    layers: int = 1,
    bidirectional: bool = True,
    context_every_step: bool = False,
    context_init: bool = True,
    dropout: float = 0.0,
    transformer_width: int = 64,
    transformer_heads: int = 4,
    pad_index: int | None = None,
    end_index: int | None = None,
    word_dropout: float = 0.0,
    prior: str | dict[str, Any] = "normal",
    posterior: str = "gaussian",
    n_classes: int | None = None,
    n_attributes: int | None = None,
) -> SequenceVAE:
    """Build a sequence VAE for integer token sequences of shape ``[length]``.

    Args:
        data_shape: ``[length]``.
        vocab_size: number of token ids.
        latent_dim: number of latent dimensions.
        decoder: a registered ``sequence_decoder``: "recurrent" (GRU/LSTM language model), "transformer"
            (small causal Transformer) or "hierarchical" (conductor + bar decoder), or a config mapping; the
            model-wide options below fill in the arguments it takes and does not set.
        cell: "gru" or "lstm", for the encoder and a recurrent decoder.
        embed_dim: token embedding width.
        hidden: recurrent state width (and the context width).
        layers: stacked layers of encoder and decoder.
        bidirectional: bidirectional encoder.
        context_every_step: a recurrent decoder also sees z at every step.
        context_init: a recurrent decoder's initial state is set from z.
        dropout: dropout of a recurrent decoder's embeddings and outputs.
        transformer_width: d_model of a Transformer decoder.
        transformer_heads: attention heads of a Transformer decoder.
        pad_index: padding id (masked out of the likelihood; the encoder stops at it).
        end_index: token that ends a generated sequence (a tokenizer's end token).
        word_dropout: probability of hiding teacher-forced tokens in training (a defence
            against posterior collapse).
        prior: "normal" or "mixture" (the VampPrior needs continuous inputs), or a config.
        posterior: "gaussian" or "deterministic".
        n_classes: make it a CVAE conditioned on class labels.
        n_attributes: make it a CVAE conditioned on attribute vectors of this width.
    """
    if len(data_shape) != 1:
        raise ValueError(f"a sequence VAE needs data_shape [length], got {list(data_shape)}")
    length = int(data_shape[0])
    conditioner = None
    if n_classes is not None and n_attributes is not None:
        raise ValueError("give n_classes or n_attributes, not both")
    if n_classes is not None:
        conditioner = build("conditioner", {"type": "label", "n_classes": n_classes})
    elif n_attributes is not None:
        conditioner = build("conditioner", {"type": "attributes", "n_attributes": n_attributes})
    cond = conditioner.out_features if conditioner is not None else 0
    encoder = build(
        "encoder",
        {
            "type": "recurrent",
            "vocab_size": vocab_size,
            "embed_dim": embed_dim,
            "hidden": hidden,
            "cell": cell,
            "layers": layers,
            "bidirectional": bidirectional,
            "pad_index": pad_index,
        },
    )
    network = sequence_decoder_spec(
        decoder,
        vocab_size,
        hidden,
        length,
        embed_dim=embed_dim,
        hidden=hidden,
        cell=cell,
        layers=layers,
        context_every_step=context_every_step,
        context_init=context_init,
        dropout=dropout,
        d_model=transformer_width,
        heads=transformer_heads,
    )
    likelihood = build(
        "likelihood",
        {
            "type": "autoregressive",
            "network": {"kind": "sequence_decoder", **network},
            "length": length,
            "ignore_index": pad_index,
            "word_dropout": word_dropout,
            "end_index": end_index,
        },
    )
    context = build(
        "decoder", {"type": "mlp", "in_features": latent_dim + cond, "output_shape": [hidden], "hidden": []}
    )
    post = build("posterior", {"type": posterior, "in_features": encoder.out_features + cond, "latent_dim": latent_dim})
    prior_spec = {"type": prior} if isinstance(prior, str) else dict(prior)
    prior_spec["latent_dim"] = latent_dim
    return SequenceVAE([length], encoder, post, build("prior", prior_spec), context, likelihood, conditioner)
