"""An autoregressive prior over a grid of code indices: a small causal Transformer.

The grid (B, h, w) is read in raster order as a sequence of L = h * w tokens. Position i is
predicted from a start token and the codes before it:

    p(c | y) = prod_i p(c_i | c_<i, y),

where the start token is a learned embedding of the class label y for a class-conditional prior
(or one learned token otherwise). Attention is masked causally, so the logits at position i never
depend on codes at positions >= i.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.registry import Part, register


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position attends only to itself and earlier positions."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:
        b, length, width = h.shape
        q, k, v = self.qkv(h).view(b, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, L, d)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)  # (B, H, L, d)
        return self.out(a.transpose(1, 2).reshape(b, length, width))


class TransformerBlock(nn.Module):
    """Pre-norm block: h + attention(norm(h)), then h + MLP(norm(h))."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.attention(self.norm1(h))
        return h + self.mlp(self.norm2(h))


@register("code_prior", "transformer")
class TransformerCodePrior(Part):
    """A causal Transformer over the raster-ordered grid of code indices, optionally class-conditional.

    Args:
        num_codes: K, the number of codes.
        grid: ``[h, w]`` of the code grid.
        width: embedding width.
        layers: number of Transformer blocks.
        heads: attention heads.
        dropout: dropout rate in training.
        n_classes: make the prior class-conditional on labels 0..n_classes-1.
    """

    def __init__(
        self,
        num_codes: int,
        grid: Sequence[int],
        width: int = 128,
        layers: int = 4,
        heads: int = 4,
        dropout: float = 0.1,
        n_classes: int | None = None,
    ):
        super().__init__()
        # Checked here, before anything trains: torch would take width 0 or negative layers without a word.
        if width < 1 or heads < 1 or layers < 0:
            got = f"width {width}, heads {heads}, layers {layers}"
            raise ValueError(f"a code prior needs width >= 1, heads >= 1 and layers >= 0; got {got}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_codes = int(num_codes)
        self.grid = tuple(int(g) for g in grid)
        self.length = self.grid[0] * self.grid[1]
        self.n_classes = None if n_classes is None else int(n_classes)
        self.token = nn.Embedding(self.num_codes, width)
        self.start = nn.Embedding(self.n_classes or 1, width)  # one start token per class
        self.position = nn.Parameter(torch.zeros(self.length, width))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.num_codes)

    # ------------------------------------------------------------------ checks
    def check_input(self, codes: Tensor, y: Tensor | None = None) -> None:
        """Raise ValueError naming the problem if ``codes`` (B, h, w) (and ``y``) do not fit this prior."""
        if codes.is_floating_point() or tuple(codes.shape[1:]) != self.grid:
            raise ValueError(
                f"codes must be an integer tensor of shape (batch, {self.grid[0]}, {self.grid[1]}), "
                f"got {codes.dtype} {tuple(codes.shape)}"
            )
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.num_codes):
            raise ValueError(f"codes must lie in 0..{self.num_codes - 1}")
        self._start_labels(codes.shape[0], y, codes.device)

    def _start_labels(self, batch: int, y: Tensor | None, device: torch.device) -> Tensor:
        if self.n_classes is None:
            if y is not None:
                raise ValueError("this code prior is not class-conditional; it takes no labels")
            return torch.zeros(batch, dtype=torch.long, device=device)
        if y is None:
            raise ValueError("this code prior is class-conditional: pass class labels y")
        y = torch.as_tensor(y, device=device).long().reshape(-1)
        if y.numel() == 1 and batch > 1:
            y = y.expand(batch)
        if y.shape != (batch,) or y.min() < 0 or y.max() >= self.n_classes:
            got = f"shape {tuple(y.shape)}" + (f", values {int(y.min())}..{int(y.max())}" if y.numel() else "")
            raise ValueError(f"labels must be {batch} integers in 0..{self.n_classes - 1}, got {got}")
        return y

    # ------------------------------------------------------------------- maths
    def logits(self, codes: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits of p(c_i | c_<i, y) at every position: (B, h, w, K) for codes (B, h, w).

        Positions are shifted right by one: the input at position i is the code at i - 1 (the
        start token at i = 0), so output i sees only codes before i.
        """
        b = codes.shape[0]
        start = self._start_labels(b, y, codes.device)
        return self._prefix_logits(codes.reshape(b, -1), start, self.length).view(b, *self.grid, self.num_codes)

    def _prefix_logits(self, flat: Tensor, start: Tensor, n: int) -> Tensor:
        """Logits (B, n, K) of the first n positions from raster-ordered codes ``flat`` (B, >= n - 1)."""
        h = self.start(start)[:, None]  # (B, 1, W)
        if n > 1:
            h = torch.cat([h, self.token(flat[:, : n - 1])], 1)  # (B, n, W)
        h = h + self.position[:n]
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))  # (B, n, K)

    def log_prob(self, codes: Tensor, y: Tensor | None = None) -> Tensor:
        """log p(codes | y) summed over the grid: (B,) nats."""
        logp = torch.log_softmax(self.logits(codes, y), -1)  # (B, h, w, K)
        return logp.gather(-1, codes.long().unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, y: Tensor | None = None) -> Tensor:
        """Draw n code grids (n, h, w) position by position; logits are divided by ``temperature``."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        device = self.head.weight.device
        start = self._start_labels(n, y, device)
        codes = torch.zeros(n, self.length, dtype=torch.long, device=device)
        for i in range(self.length):
            # Causality: position i depends only on the codes before it, so only the prefix is computed.
            logits = self._prefix_logits(codes, start, i + 1)[:, i]  # (n, K)
            codes[:, i] = torch.multinomial(torch.softmax(logits / temperature, -1), 1).squeeze(1)
        return codes.view(n, *self.grid)
