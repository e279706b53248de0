"""dSprites (Matthey et al. 2017), rendered procedurally from its definition, with its factor labels.

Every image is a white sprite on a black 64x64 canvas, fixed by five factors:

    shape        3   square, ellipse, heart
    scale        6   linspace(0.5, 1, 6)
    orientation  40  linspace(0, 2 pi, 40)   (the first and last angles coincide, as in the original)
    pos_x        32  linspace(0, 1, 32)
    pos_y        32  linspace(0, 1, 32)

3 * 6 * 40 * 32 * 32 = 737,280 images. Nothing is stored: an image is rendered from its factors on
demand (a pixel is on when its centre lies inside the scaled, rotated, shifted shape), so any
subset costs only its own memory (the whole set would be 3 GB as bytes).

The "colour" variant (as Locatello et al.'s colour-dSprites and noisy-dSprites together) paints the
sprite in a random colour in [0.5, 1]^3 on a background of uniform noise: 3 channels, 256 levels,
the same factors (colour and noise are nuisances drawn per image).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64
# Sprite geometry in pixels: the half-extent of a scale-1 sprite, and the centre of pos = 0. Successive
# positions are STEP = 1.25 pixels apart (centres 12.125 .. 50.875, symmetric about the middle), so the
# sub-pixel phase of a centre takes only four values: an image is an exact copy of one of
# 3 * 6 * 40 * 4 * 4 pre-rendered stamps, placed at an integer offset.
RADIUS = 10.0
STEP = 1.25
MARGIN = 12.125
STAMP = 26  # stamp width: covers the largest sprite at any rotation (half-extent <= 1.14 * RADIUS + phase)
STAMP_OFFSET = 12  # stamp pixel j sits at column floor(centre) - STAMP_OFFSET + j
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * math.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
N_IMAGES = int(np.prod(FACTOR_SIZES))
# Mixed-radix place values: index = sum(factor_k * STRIDES[k]) (the original file's order).
STRIDES = tuple(int(np.prod(FACTOR_SIZES[k + 1 :])) for k in range(len(FACTOR_SIZES)))


def centre_pixels(position: Tensor | np.ndarray | float) -> Tensor | np.ndarray | float:
    """The sprite centre, in pixel coordinates, of a position value in [0, 1]."""
    return MARGIN + position * (STEP * (FACTOR_SIZES[3] - 1))


def factors_to_index(factors: np.ndarray) -> np.ndarray:
    """(N, 5) factor indices -> (N,) flat image indices (0..737,279)."""
    return (np.asarray(factors, dtype=np.int64) * np.asarray(STRIDES)).sum(-1)


def index_to_factors(index: np.ndarray) -> np.ndarray:
    """(N,) flat image indices -> (N, 5) factor indices."""
    index = np.asarray(index, dtype=np.int64)
    return np.stack([(index // s) % n for s, n in zip(STRIDES, FACTOR_SIZES)], -1)


def _inside(shape: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Whether the points (u, v) of the unit sprite frame are inside each sprite's shape.

    ``u`` points right and ``v`` up, in units of RADIUS * scale; shape (B, H, W) booleans.
    """
    square = (u.abs() <= 0.8) & (v.abs() <= 0.8)
    ellipse = u.pow(2) + (v / 0.5).pow(2) <= 1.0
    # The heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0 spans x in [-1.14, 1.14], y in [-1, 1.24]:
    # shrink it to the unit half-extent and centre it vertically.
    hx, hy = u * 1.14, v * 1.12 + 0.12
    heart = (hx.pow(2) + hy.pow(2) - 1).pow(3) - hx.pow(2) * hy.pow(3) <= 0
    s = shape.view(-1, 1, 1)
    return torch.where(s == 0, square, torch.where(s == 1, ellipse, heart))


@functools.cache
def _stamps() -> Tensor:
    """Every (shape, scale, orientation, x phase, y phase) sprite on a STAMP x STAMP window, uint8.

    A pixel is on when its centre lies inside the shape; the pixel grid is offset from the sprite
    centre by the phase (the fractional part of the centre), one of four values per axis.
    """
    phases = torch.tensor([(MARGIN + STEP * k) % 1.0 for k in range(4)], dtype=torch.float64)
    local = torch.arange(STAMP, dtype=torch.float64) - STAMP_OFFSET  # pixel index minus floor(centre)
    s, c, o, px, py = torch.meshgrid(*(torch.arange(n) for n in (3, 6, 40, 4, 4)), indexing="ij")
    s, c, o, px, py = (t.reshape(-1) for t in (s, c, o, px, py))
    radius = (RADIUS * torch.as_tensor(SCALES)[c]).view(-1, 1, 1)
    theta = torch.as_tensor(ORIENTATIONS)[o].view(-1, 1, 1)
    dx = (local.view(1, 1, -1) - phases[px].view(-1, 1, 1)) / radius  # (S, 1, W): column offsets
    dy = (phases[py].view(-1, 1, 1) - local.view(1, -1, 1)) / radius  # (S, H, 1): row offsets, "up" positive
    # Rotate the offsets by -theta into the sprite's own frame: the sprite turns counter-clockwise.
    cos, sin = torch.cos(theta), torch.sin(theta)
    u = cos * dx + sin * dy  # (S, H, W)
    v = -sin * dx + cos * dy
    return _inside(s, u, v).to(torch.uint8).view(3, 6, 40, 4, 4, STAMP, STAMP)


def render(factors: np.ndarray | Tensor, chunk: int = 4096) -> Tensor:
    """Binary images (N, 1, 64, 64) uint8 in {0, 1} of the given (N, 5) factor indices."""
    f = torch.as_tensor(np.asarray(factors), dtype=torch.int64)
    if f.dim() != 2 or f.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"dSprites factors must have shape (N, {len(FACTOR_SIZES)}), got {tuple(f.shape)}")
    if (f < 0).any() or (f >= torch.tensor(FACTOR_SIZES)).any():
        raise ValueError(f"dSprites factor indices must lie in 0..size-1 for sizes {FACTOR_SIZES}")
    stamps = _stamps()
    out = torch.zeros(len(f), 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    window = torch.arange(STAMP)
    for start in range(0, len(f), chunk):
        b = f[start : start + chunk]
        # Integer part of each centre: MARGIN + STEP * k = 12.125 + k + k / 4, whose floor is 12 + k + k // 4.
        # The stamp spans floor(centre) - 12 .. floor(centre) + 13, which stays within 0..63 for every position.
        col = int(math.floor(MARGIN)) + b[:, 3] + b[:, 3] // 4 - STAMP_OFFSET  # (B,) first column of the stamp
        row = int(math.floor(MARGIN)) + b[:, 4] + b[:, 4] // 4 - STAMP_OFFSET
        rows = row.view(-1, 1, 1) + window.view(1, -1, 1)  # (B, STAMP, 1)
        cols = col.view(-1, 1, 1) + window.view(1, 1, -1)  # (B, 1, STAMP)
        target = out[start : start + chunk, 0]  # (B, 64, 64), a view
        target[torch.arange(len(b)).view(-1, 1, 1), rows, cols] = stamps[
            b[:, 0], b[:, 1], b[:, 2], b[:, 3] % 4, b[:, 4] % 4
        ]
    return out


def colourize(masks: Tensor, rng: np.random.Generator) -> Tensor:
    """Colour-and-noise variant of binary sprites: (N, 1, H, W) {0, 1} -> (N, 3, H, W) uint8 0..255.

    The sprite takes a random colour in [0.5, 1]^3; the background is uniform noise in [0, 1).
    """
    n, _, h, w = masks.shape
    colour = torch.from_numpy(rng.uniform(0.5, 1.0, size=(n, 3, 1, 1)).astype(np.float32))
    noise = torch.from_numpy(rng.random(size=(n, 3, h, w), dtype=np.float32))
    mask = masks.float()
    image = mask * colour + (1 - mask) * noise
    return (image * 255).round().clamp(0, 255).to(torch.uint8)


class DSprites:
    """The dSprites ground-truth generator: draw factors, render their images.

    Args:
        variant: "binary" (the original) or "colour" (coloured sprites on uniform noise).
    """

    factor_names: tuple[str, ...] = FACTOR_NAMES
    factor_sizes: tuple[int, ...] = FACTOR_SIZES

    def __init__(self, variant: str = "binary"):
        if variant not in ("binary", "colour"):
            raise ValueError(f"unknown dSprites variant {variant!r}; valid: ['binary', 'colour']")
        self.variant = variant

    @property
    def levels(self) -> int:
        """Grey levels of the images: 2 for binary, 256 for the colour variant."""
        return 2 if self.variant == "binary" else 256

    @property
    def data_shape(self) -> tuple[int, int, int]:
        return (1 if self.variant == "binary" else 3, IMAGE_SIZE, IMAGE_SIZE)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 5) factor indices drawn uniformly (every image equally likely)."""
        return np.stack([rng.integers(0, size, n) for size in FACTOR_SIZES], -1)

    def observe(self, factors: np.ndarray, rng: np.random.Generator) -> Tensor:
        """Images of ``factors``: (N, C, 64, 64) uint8 (levels as :attr:`levels`)."""
        masks = render(factors)
        return masks if self.variant == "binary" else colourize(masks, rng)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, Tensor]:
        """``n`` random images and their factors."""
        factors = self.sample_factors(n, rng)
        return factors, self.observe(factors, rng)

    def sample_fixed(
        self, factor: np.ndarray | int, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, Tensor]:
        """Factors (N, 5) and images with factor ``factor[i]`` (or one ``factor``) set to ``values[i]``,
        the others random."""
        factors = self.sample_factors(len(values), rng)
        which = np.broadcast_to(np.asarray(factor), np.shape(values))
        factors[np.arange(len(values)), which] = np.asarray(values)
        return factors, self.observe(factors, rng)


def load_dsprites(
    variant: str = "binary", n_train: int = 100_000, n_validation: int = 5_000, n_test: int = 5_000, seed: int = 0
):
    """Built-in dataset ``dsprites`` (or ``dsprites-colour``): disjoint random subsets of the 737,280
    images, rendered, with their factors in ``Split.factors``.

    Only the drawn images are held (100,000 binary images are 400 MB as bytes); the metrics draw
    fresh ones from :class:`DSprites` itself.
    """
    from vaekit.data.builtin import Dataset, Split

    data = DSprites(variant)
    rng = np.random.default_rng(seed)
    index = rng.choice(N_IMAGES, n_train + n_validation + n_test, replace=False)
    splits = []
    for part in np.split(index, [n_train, n_train + n_validation]):
        factors = index_to_factors(part)
        splits.append(Split(data.observe(factors, rng), None, data.levels, torch.from_numpy(factors)))
    name = "dsprites" if variant == "binary" else "dsprites-colour"
    return Dataset(name, *splits, factor_names=list(FACTOR_NAMES))
