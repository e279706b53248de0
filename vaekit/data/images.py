"""A folder of images (PNG/JPEG/...) as a uint8 tensor, with labels from class subfolders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaekit.data.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
CHANNEL_MODES = ("auto", "grey", "rgb")


def _image_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise DataError(f"image_size must be one number or [height, width], got {list(size)}")
    return size  # (H, W)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> tuple[list[Path], list[str] | None]:
    """Image files of ``folder``: either directly in it (no labels) or in one subfolder per class.

    Returns:
        The files (sorted) and the class names (sorted subfolder names), or None without subfolders.
    """
    direct = sorted(p for p in folder.iterdir() if _is_image(p))
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(_is_image(c) for c in p.iterdir()))
    if direct and classes:
        raise DataError(
            f"{folder} holds both images and class subfolders ({classes[:3]}...); "
            "put every image in a class subfolder, or none"
        )
    if classes:
        files = [p for c in classes for p in sorted((folder / c).iterdir()) if _is_image(p)]
        return files, classes
    return direct, None


def load_image_folder(
    folder: str | Path, image_size: int | Sequence[int] | None = None, channels: str = "auto"
) -> tuple[Tensor, Tensor | None, list[str] | None]:
    """Read every image of ``folder`` (see :func:`list_images`).

    Args:
        folder: the folder.
        image_size: resize every image to this (an int for square, or [H, W]); None keeps the size,
            which must then be the same for all images.
        channels: "grey", "rgb", or "auto" (grey if every image is greyscale, else RGB).

    Returns:
        x as uint8 (N, C, H, W) with C 1 or 3, labels (N,) int64 or None, and the class names or None.

    Raises:
        DataError: no such folder, no images, an unreadable image, or mixed sizes without ``image_size``.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of images")
    if channels not in CHANNEL_MODES:
        raise DataError(f"unknown channels {channels!r}; valid: {list(CHANNEL_MODES)}")
    size = _image_size(image_size)
    files, classes = list_images(folder)
    if not files:
        raise DataError(f"{folder} contains no images ({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                images.append(image.copy())
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise DataError(f"cannot read image {path}: {error}") from error
    if channels == "auto":
        grey = all(im.mode in ("L", "1", "I", "I;16", "F", "LA") for im in images)
        channels = "grey" if grey else "rgb"
    mode = "L" if channels == "grey" else "RGB"
    if size is None:
        first = images[0].size
        for path, image in zip(files, images):
            if image.size != first:
                raise DataError(
                    f"images have different sizes: {files[0]} is {first[0]}x{first[1]} but {path} is "
                    f"{image.size[0]}x{image.size[1]} (width x height); set image_size to resize them"
                )
    arrays = []
    for image in images:
        image = image.convert(mode)
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
    x = np.stack(arrays)  # (N, H, W) or (N, H, W, 3)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    labels = None
    if classes is not None:
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[p.parent.name] for p in files], dtype=torch.int64)
    return torch.from_numpy(np.ascontiguousarray(x)), labels, classes
