"""M2 of Kingma et al. (2014): a class-conditional VAE whose class y is a partly observed latent.

    p(x, y, z) = p(y) p(z) p(x|y, z),   q(y, z|x) = q(y|x) q(z|x, y),   p(y) uniform over K classes.

The generative half is a CVAE (encoder, posterior, prior, decoder, likelihood and a label conditioner, all
existing vaekit parts); M2 adds a classifier q(y|x). Labels equal to :data:`UNLABELLED` (-1) mark examples
whose class is missing; the objective (:func:`vaekit.objectives.m2_loss`) marginalises y for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution

from vaekit.data.labels import UNLABELLED
from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.priors import Prior
from vaekit.models.base import LogWeightsFn, ModelExample, log_weights
from vaekit.models.checks import check_data_batch
from vaekit.models.conditioner import LabelConditioner
from vaekit.models.output import VAEOutput
from vaekit.models.vae import VAE
from vaekit.registry import build, register, register_builder


@dataclass
class M2Output:
    """One forward pass of M2 with every class enumerated.

    Attributes:
        q_y: the classifier q(y|x), batch shape (B,), K classes.
        q_z: q(z|x, y=k) for every class k, batch shape (K, B).
        p_z: the prior p(z).
        z: one reparameterized draw per class and example, (K, B, D).
        p_x: p(x|y=k, z), batch shape (K, B).
        log_p_y: log p(y), (K,) (uniform: -log K each).
    """

    q_y: Categorical
    q_z: Distribution
    p_z: Distribution
    z: Tensor
    p_x: Distribution
    log_p_y: Tensor


@register("model", "m2")
class M2(VAE):
    """The semi-supervised M2 model: a CVAE over (x, y) plus a classifier q(y|x).

    Args:
        data_shape: shape of one example.
        encoder: x -> features for q(z|x, y) (the label's one-hot is appended before the posterior head).
        posterior: features (+ one-hot y) -> q(z|x, y).
        prior: p(z).
        decoder: (z, one-hot y) -> likelihood parameters.
        likelihood: decoder output -> p(x|y, z).
        conditioner: the label conditioner (one-hot of y); its ``n_classes`` is K.
        classifier: x -> features of the classifier q(y|x) (an encoder part); a linear layer maps them to K logits.
    """

    objective_names = ("m2",)
    learns_from_unlabelled = True  # trains on label budgets (data.labels): y = -1 marks a missing label

    def __init__(
        self,
        data_shape: Sequence[int],
        encoder: nn.Module,
        posterior: nn.Module,
        prior: Prior,
        decoder: nn.Module,
        likelihood: Likelihood,
        conditioner: LabelConditioner,
        classifier: nn.Module,
    ):
        if not isinstance(conditioner, LabelConditioner):
            raise ValueError("M2 needs a label conditioner: its class y is a categorical latent")
        super().__init__(data_shape, encoder, posterior, prior, decoder, likelihood, conditioner)
        self.n_classes = conditioner.n_classes
        self.classifier = classifier
        self.classifier_head = nn.Linear(int(classifier.out_features), self.n_classes)

    # ----------------------------------------------------------------- checks
    def check_input(self, x: Tensor, y: Tensor | None = None) -> None:
        """Like a CVAE's check, but y may be missing, and -1 marks an example without its label."""
        check_data_batch(x, self.data_shape, self.likelihood, allow_integer=True)
        if y is None:
            return
        if not isinstance(y, Tensor) or y.is_floating_point() or y.shape != (x.shape[0],):
            raise ValueError(f"labels must be an integer tensor of shape ({x.shape[0]},)")
        if y.numel() and (y.min() < UNLABELLED or y.max() >= self.n_classes):
            raise ValueError(
                f"labels must lie in 0..{self.n_classes - 1}, or be {UNLABELLED} for a missing label; "
                f"got {int(y.min())}..{int(y.max())}"
            )

    # -------------------------------------------------------------- the parts
    def classify(self, x: Tensor) -> Categorical:
        """q(y|x), batch shape (B,)."""
        h = self.classifier(x if x.is_floating_point() else x.float())
        return Categorical(logits=self.classifier_head(h))

    def _fill_labels(self, x: Tensor, y: Tensor | None) -> Tensor:
        """y with every missing label (None or -1) replaced by the classifier's most likely class."""
        if y is not None and bool((y >= 0).all()):
            return y
        guess = self.classify(x).probs.argmax(-1)
        return guess if y is None else torch.where(y >= 0, y, guess)

    def encode(self, x: Tensor, y: Tensor | None = None, check: bool = True) -> Distribution:
        """q(z|x, y); a missing label (None or -1) is replaced by the classifier's most likely class."""
        if check:
            self.check_input(x, y)
        return super().encode(x, self._fill_labels(x, y), check=False)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|y, z) for z of shape (..., D); y is needed (the class to draw)."""
        if y is None:
            raise ValueError("M2 decodes a class: pass y")
        return super().decode(z, y)

    def forward(self, x: Tensor, y: Tensor | None = None, n_samples: int = 1, check: bool = True) -> VAEOutput:
        """The CVAE pass for given labels (missing ones guessed by the classifier), as a ``VAEOutput``."""
        if check:
            self.check_input(x, y)
        return super().forward(x, self._fill_labels(x, y), n_samples=n_samples, check=False)

    def enumerate_classes(self, x: Tensor) -> M2Output:
        """q(y|x), and q(z|x, y), one z and p(x|y, z) for every class y: what the M2 objective needs.

        The encoder runs once; the posterior head and the decoder run once per class.
        """
        x_in = x if x.is_floating_point() else x.float()
        b, k = x.shape[0], self.n_classes
        h = self.encoder(x_in)  # (B, H)
        labels = torch.arange(k, device=h.device)[:, None].expand(k, b)  # (K, B)
        c = self.conditioner(labels)  # (K, B, K) one-hot
        q_z = self.posterior(torch.cat([h.unsqueeze(0).expand(k, b, h.shape[-1]), c], dim=-1))  # batch (K, B)
        z = q_z.rsample()  # (K, B, D)
        p_x = super().decode(z, labels)  # batch (K, B)
        log_p_y = torch.full((k,), -math.log(k), device=h.device)
        return M2Output(self.classify(x_in), q_z, self.prior(), z, p_x, log_p_y)

    # ------------------------------------------------------------ likelihoods
    def log_weights_sampler(self, x: Tensor, y: Tensor | None = None) -> LogWeightsFn:
        """A function n -> (n, B) log importance weights. A labelled example (y >= 0) gets a CVAE's,
        log p(x, z|y) - log q(z|x, y); for a missing label (None or -1) the class is drawn too, y ~ q(y|x),
        and the weight log p(x, y, z) - log q(y, z|x) makes the estimate a bound on log p(x)."""
        x_in = x if x.is_floating_point() else x.float()
        h = self.encoder(x_in)  # (B, H): encoded once for every draw
        q_y = self.classify(x_in)
        missing = torch.ones(x.shape[0], dtype=torch.bool, device=h.device) if y is None else y < 0
        known = torch.zeros_like(missing, dtype=torch.long) if y is None else y.clamp_min(0).long()
        log_k = math.log(self.n_classes)

        def draw(n: int) -> Tensor:
            labels = torch.where(missing, q_y.sample((n,)), known)  # (n, B)
            features = torch.cat([h.expand(n, *h.shape), self.conditioner(labels)], dim=-1)  # (n, B, H + K)
            q_z = self.posterior(features)  # batch (n, B)
            z = q_z.rsample()  # (n, B, D)
            weights = log_weights(VAEOutput(q_z=q_z, p_z=self.prior(), z=z, p_x=self.decode(z, labels)), x)
            return weights + torch.where(missing, -log_k - q_y.log_prob(labels), torch.zeros_like(weights))

        return draw

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decode the posterior mean of each input, with its label (a missing one guessed by the classifier)."""
        y = self._fill_labels(x if x.is_floating_point() else x.float(), y)
        return self.decode(self.encode(x, y).mean, y).mean

    # ---------------------------------------------------------------- testing
    @classmethod
    def examples(cls) -> list[ModelExample]:
        """Tiny MLP and conv M2s. Their batches are fully labelled, so that every generic check (the ELBO of
        ``forward`` against the log-likelihood, both conditional on y) compares like with like; missing labels
        are tested in ``tests/models/test_m2.py`` and ``tests/objectives/test_semisupervised.py``."""
        gen = torch.Generator().manual_seed(0)
        y = torch.tensor([0, 1, 2, 2, 1, 0])
        mlp = {"type": "m2", "n_classes": 3, "latent_dim": 2, "hidden": [8]}
        conv = {"type": "m2", "n_classes": 3, "latent_dim": 2, "architecture": "conv", "hidden": [8],
                "channels": [2, 4]}  # fmt: skip
        return [
            ModelExample(mlp, (torch.rand(6, 1, 4, 4, generator=gen) > 0.5).float(), y),
            ModelExample(conv, torch.rand(6, 1, 8, 8, generator=gen), y),
        ]


@register_builder("m2", objective="m2")
def build_m2(
    data_shape: Sequence[int],
    n_classes: int,
    latent_dim: int = 16,
    architecture: str = "mlp",
    hidden: Sequence[int] = (256, 256),
    channels: Sequence[int] = (32, 64),
    classifier_hidden: Sequence[int] | None = None,
    activation: str = "relu",
    likelihood: str | dict[str, Any] = "bernoulli",
    prior: str | dict[str, Any] = "normal",
) -> M2:
    """Build an M2 model (MLP or convolutional networks) for examples of ``data_shape`` with ``n_classes`` classes.

    Args:
        data_shape: shape of one example: ``[D]`` (e.g. M1 latents, for M1+M2) or ``[C, H, W]``.
        n_classes: number of classes K (filled in from the data by a run).
        latent_dim: dimensions of z.
        architecture: "mlp" or "conv" (for the encoder, the decoder and the classifier).
        hidden: MLP hidden widths (for "conv": the last one is the dense width).
        channels: conv stage channels, encoder order (the decoder mirrors them).
        classifier_hidden: the classifier's hidden widths (default: ``hidden``).
        activation: activation name.
        likelihood: a likelihood name or ``{"type": name, **arguments}``.
        prior: a prior name or spec for p(z).
    """
    from vaekit.models.builders import build_vae

    vae = build_vae(
        data_shape, latent_dim, architecture, hidden, channels, activation=activation, likelihood=likelihood,
        prior=prior, n_classes=n_classes,
    )  # fmt: skip
    widths = list(hidden if classifier_hidden is None else classifier_hidden)
    spec: dict[str, Any] = {"type": architecture, "input_shape": list(vae.data_shape), "activation": activation}
    if architecture == "conv":
        spec.update(channels=list(channels), hidden=int(widths[-1]))
    else:
        spec["hidden"] = widths
    classifier = build("encoder", spec)
    parts = (vae.encoder, vae.posterior, vae.prior, vae.decoder, vae.likelihood, vae.conditioner)
    return M2(vae.data_shape, *parts, classifier)
