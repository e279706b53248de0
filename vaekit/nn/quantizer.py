"""Vector quantization (van den Oord et al. 2017): nearest-codebook lookup with a straight-through gradient.

The codebook is learned either by the codebook loss ``||sg[z_e] - e||^2`` or by exponential moving
averages of the assigned encoder outputs (``update="ema"``, Appendix A.1 of the paper). Codes can be
initialized by k-means on the first training batches, and codes that fall out of use are restarted
at encoder outputs of the current batch (as in Jukebox, Dhariwal et al. 2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.registry import Part, register


@dataclass
class QuantizerOutput:
    """What one pass through the quantizer produces.

    Attributes:
        z_q: quantized latents with the straight-through gradient, the input's shape (B, D, *grid).
        indices: code index of each position, (B, *grid).
        commitment: beta * ||z_e - sg[e]||^2 summed over positions and channels, per example (B,).
        codebook: ||sg[z_e] - e||^2 per example (B,); zero when the codebook is learned by EMA.
        perplexity: exp(entropy) of the batch's code frequencies (1 = one code, K = all codes equally).
        usage: fraction of the K codes used at least once in the batch.
    """

    z_q: Tensor
    indices: Tensor
    commitment: Tensor
    codebook: Tensor
    perplexity: Tensor
    usage: Tensor


def kmeans(vectors: Tensor, k: int, iterations: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means: ``k`` centroids (k, D) of ``vectors`` (N, D); empty clusters keep their centroid.

    Centroids start at distinct random vectors (drawn with replacement when N < k).
    """
    n = vectors.shape[0]
    enough = n >= k
    start = torch.randperm(n, generator=generator)[:k] if enough else torch.randint(0, n, (k,), generator=generator)
    centroids = vectors[start.to(vectors.device)].clone()  # (K, D)
    for _ in range(iterations):
        assign = torch.cdist(vectors, centroids).argmin(1)  # (N,)
        sums = torch.zeros_like(centroids).index_add_(0, assign, vectors)  # (K, D)
        counts = torch.bincount(assign, minlength=k).to(vectors.dtype)  # (K,)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


@register("quantizer", "vq")
class VectorQuantizer(Part):
    """Maps each D-vector of a channel-first grid (B, D, *grid) to its nearest of K codes.

    Args:
        num_codes: K, the codebook size.
        code_dim: D, the width of each code (the encoder's output channels).
        beta: weight of the commitment loss (0.25 in the paper).
        update: "loss" (codebook learned by gradient of the codebook loss) or "ema".
        decay: gamma of the exponential moving averages (EMA codebook and code usage).
        epsilon: Laplace smoothing of the EMA cluster sizes (no division by zero for empty codes).
        init: "kmeans" (k-means on the first ``init_batches`` training batches) or "random".
        init_batches: training batches whose encoder outputs are pooled for the k-means initialization.
        kmeans_iterations: Lloyd iterations of that initialization.
        restart_dead: re-place dead codes at random encoder outputs of the current batch.
        dead_threshold: a code is dead when its EMA count of assignments per batch falls below this
            fraction of the even share (vectors per batch / K).
    """

    def __init__(
        self,
        num_codes: int = 512,
        code_dim: int = 64,
        beta: float = 0.25,
        update: str = "ema",
        decay: float = 0.99,
        epsilon: float = 1e-5,
        init: str = "kmeans",
        init_batches: int = 1,
        kmeans_iterations: int = 10,
        restart_dead: bool = True,
        dead_threshold: float = 0.25,
    ):
        super().__init__()
        if update not in ("loss", "ema"):
            raise ValueError(f"unknown codebook update {update!r}; valid: ['ema', 'loss']")
        if init not in ("kmeans", "random"):
            raise ValueError(f"unknown codebook init {init!r}; valid: ['kmeans', 'random']")
        if num_codes < 2 or code_dim < 1:
            raise ValueError(f"a quantizer needs num_codes >= 2 and code_dim >= 1, got {num_codes}, {code_dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), got {decay}")
        self.num_codes, self.code_dim = int(num_codes), int(code_dim)
        self.beta, self.update, self.decay, self.epsilon = float(beta), update, float(decay), float(epsilon)
        self.init, self.init_batches, self.kmeans_iterations = init, int(init_batches), int(kmeans_iterations)
        self.restart_dead, self.dead_threshold = bool(restart_dead), float(dead_threshold)
        codebook = torch.empty(self.num_codes, self.code_dim).uniform_(-1 / self.num_codes, 1 / self.num_codes)
        if update == "loss":
            self.codebook = nn.Parameter(codebook)  # (K, D)
        else:
            self.register_buffer("codebook", codebook)  # (K, D), set from the averages below
            self.register_buffer("ema_sum", codebook.clone())  # (K, D): EMA of summed assigned vectors
        # EMA of how many vectors each code is assigned per batch: the EMA cluster size, and the dead-code test.
        self.register_buffer("ema_count", torch.ones(self.num_codes))  # (K,)
        # Saved with the weights, so a loaded model is not re-initialized.
        self.register_buffer("initialized", torch.tensor(init == "random"))
        self._pending: list[Tensor] = []  # encoder outputs pooled for the k-means initialization
        # Set by the training loop under data parallelism (vaekit.train.sync.Replicas): the statistics are then
        # those of the global batch and the random decisions rank 0's, so every rank holds the same codebook.
        self.replicas = None

    # ------------------------------------------------------------------ lookup
    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the nearest code of each row of ``flat`` (N, D): (N,)."""
        # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 does not change the argmin.
        distances = self.codebook.pow(2).sum(1) - 2 * flat @ self.codebook.t()  # (N, K)
        return distances.argmin(1)

    def lookup(self, indices: Tensor) -> Tensor:
        """Codes of an index grid (B, *grid) as a channel-first tensor (B, D, *grid)."""
        return self.codebook[indices].movedim(-1, 1)

    # ----------------------------------------------------------------- forward
    def forward(self, z_e: Tensor) -> QuantizerOutput:
        """Quantize a channel-first grid of encoder outputs ``z_e`` (B, D, *grid).

        In training mode this also runs the initialization, EMA update and dead-code restart.
        """
        if z_e.dim() < 2 or z_e.shape[1] != self.code_dim:
            raise ValueError(f"the quantizer expects (batch, {self.code_dim}, ...), got shape {tuple(z_e.shape)}")
        flat = z_e.movedim(1, -1).reshape(-1, self.code_dim)  # (N, D), N = B * prod(grid)
        if self.training and not bool(self.initialized):
            self._initialize(flat.detach())
        indices = self.nearest(flat.detach())  # (N,)
        if self.training:
            self._track(flat.detach(), indices)
        z_q_flat = self.codebook[indices]  # (N, D)
        per_example = z_e.shape[0]
        commitment = self.beta * (flat - z_q_flat.detach()).pow(2).reshape(per_example, -1).sum(1)  # (B,)
        if self.update == "loss":
            codebook = (flat.detach() - z_q_flat).pow(2).reshape(per_example, -1).sum(1)  # (B,)
        else:
            codebook = torch.zeros_like(commitment)
        z_q = z_q_flat.view(*z_e.shape[:1], *z_e.shape[2:], self.code_dim).movedim(-1, 1)  # (B, D, *grid)
        z_q = z_e + (z_q - z_e).detach()  # straight-through: forward is z_q, gradient flows to z_e
        counts = torch.bincount(indices, minlength=self.num_codes).float()  # (K,)
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-12))).sum())
        usage = (counts > 0).float().mean()
        grid_indices = indices.view(z_e.shape[0], *z_e.shape[2:])  # (B, *grid)
        return QuantizerOutput(z_q, grid_indices, commitment, codebook, perplexity, usage)

    # ---------------------------------------------------------------- training
    @torch.no_grad()
    def _initialize(self, flat: Tensor) -> None:
        """Pool the first ``init_batches`` batches, then set the codebook by k-means on them."""
        if self.replicas is not None:
            flat = self.replicas.gather(flat)  # the global batch, in rank order
        self._pending.append(flat)
        if len(self._pending) < self.init_batches:
            return
        vectors = torch.cat(self._pending)
        self._pending = []
        if self.replicas is None or self.replicas.rank == 0:
            centroids = kmeans(vectors, self.num_codes, self.kmeans_iterations)
        else:
            centroids = vectors.new_empty(self.num_codes, self.code_dim)
        if self.replicas is not None:
            self.replicas.broadcast(centroids)  # rank 0's random starts decide
        self.codebook.data.copy_(centroids)
        expected = flat.shape[0] / self.num_codes  # assignments per code and batch, if spread evenly
        self.ema_count.fill_(expected)
        if self.update == "ema":
            self.ema_sum.copy_(centroids * expected)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _track(self, flat: Tensor, indices: Tensor) -> None:
        """Update the usage averages, the EMA codebook, and restart dead codes."""
        one_hot = F.one_hot(indices, self.num_codes).to(flat.dtype)  # (N, K)
        counts = one_hot.sum(0)  # (K,)
        sums = one_hot.t() @ flat if self.update == "ema" else flat.new_zeros(self.num_codes, 0)  # (K, D) or (K, 0)
        n = flat.shape[0]
        if self.replicas is not None:  # the counts and sums of the global batch, before the update
            packed = self.replicas.sum(torch.cat([counts[:, None], sums, counts.new_full((self.num_codes, 1), n)], 1))
            counts, sums, n = packed[:, 0], packed[:, 1:-1], int(packed[0, -1].item())
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        if self.update == "ema":
            self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)  # (K, D)
            total = self.ema_count.sum()
            # Laplace-smoothed cluster sizes keep empty codes finite while preserving the total count.
            size = (self.ema_count + self.epsilon) / (total + self.num_codes * self.epsilon) * total
            self.codebook.copy_(self.ema_sum / size[:, None])
        if self.restart_dead and bool(self.initialized):
            self._restart(flat, n)

    @torch.no_grad()
    def _restart(self, flat: Tensor, n: int) -> None:
        """Re-place the codes whose EMA count fell below the threshold (``n``: vectors in the global batch)."""
        dead = self.ema_count < self.dead_threshold * n / self.num_codes  # (K,)
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        if self.replicas is not None:
            flat = self.replicas.gather(flat)  # draw from the global batch, as one process would
        pick = torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)
        fresh = flat[pick] + 1e-3 * flat.std() * torch.randn(n_dead, self.code_dim, device=flat.device)
        if self.replicas is not None:
            self.replicas.broadcast(fresh)  # rank 0's draws decide
        self.codebook.data[dead] = fresh
        # Give restarted codes the average count, so they are not declared dead again at once.
        self.ema_count[dead] = n / self.num_codes
        if self.update == "ema":
            self.ema_sum[dead] = fresh * self.ema_count[dead, None]
