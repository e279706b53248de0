"""How the explorer shows one kind of data: a registry of "views", keyed by data kind.

A view has two halves with the same name, ``kind``:

* **Python** (a :class:`View` subclass here, or in a domain package): turns a batch of examples in
  model space into JSON-able *payloads*, one per example.
* **JavaScript** (the static file named by :attr:`View.script`, shipped as package data in
  ``vaekit/explore/static/``): defines ``window.vaekitViews[kind] = {draw(element, payload, info)}``,
  which draws one payload into an empty DOM element. ``info`` is :meth:`View.describe`.

The page asks the server which view the run has and loads its script; nothing else in the page
knows about data kinds. Adding a data kind is therefore one Python class and one script:

.. code-block:: python

    @register_view
    class MoleculeView(View):
        kind = "molecule"
        script = "view-molecule.js"      # window.vaekitViews.molecule = {draw(el, p) {el.innerHTML = p.svg}}
        priority = 20                    # checked before the text view, which shows any token sequence

        @classmethod
        def applies_to(cls, context):
            return context.extra.get("chemistry") is not None

        def render(self, x):              # x: token ids; the default decode is greedy decoding
            smiles = self.context.extra["tokenizer"].decode_batch(x)
            return [{"smiles": s, "svg": draw_svg(s)} for s in smiles]

:class:`TextView` below is the sequence view built in; molecules (as above) and music (``{"roll": notes x steps,
"audio": "data:audio/wav;..."}`` drawn as a piano roll with an ``<audio>`` element) follow the same pattern.
A view must never read files named by a request: it gets tensors, returns data.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn


@dataclass
class ViewContext:
    """What a view may know about the data, independent of where the model came from.

    Attributes:
        data_shape: shape of one example in model space, e.g. ``(1, 8, 8)`` or ``(30,)``.
        to_raw: model-space values (a batch) -> the data's own units (e.g. undoes standardization).
        columns: feature names of a table, if known.
        class_names: names of the labels, if known.
        feature_range: per-feature (low, high) of the training data in its own units, for scales.
        extra: anything else a domain view needs (e.g. a tokenizer), keyed by name.
    """

    data_shape: tuple[int, ...]
    to_raw: Callable[[Tensor], Tensor] = lambda x: x
    columns: list[str] | None = None
    class_names: list[str] | None = None
    feature_range: tuple[list[float], list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class View:
    """Shows examples of one data kind (see the module docstring for the JavaScript half).

    Subclasses set :attr:`kind`, :attr:`script` and :attr:`priority`, and implement
    :meth:`applies_to` and :meth:`render`; :meth:`decode`, :meth:`describe` and
    :meth:`render_heat` have generic defaults.
    """

    kind: ClassVar[str] = ""
    script: ClassVar[str] = ""
    priority: ClassVar[int] = 0  # higher is asked first

    def __init__(self, context: ViewContext):
        self.context = context

    @classmethod
    def applies_to(cls, context: ViewContext) -> bool:
        """Whether this view can show the data described by ``context``."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Static information for the JavaScript half (passed to every ``draw`` call as ``info``)."""
        return {"kind": self.kind, "data_shape": list(self.context.data_shape)}

    @torch.no_grad()
    def decode(self, model: nn.Module, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Latents (B, D) -> examples in model space: the likelihood's mean by default."""
        return model.decode(z, y).mean

    def render(self, x: Tensor) -> list[dict[str, Any]]:
        """Examples in model space (B, *data_shape) -> one JSON-able payload each."""
        raise NotImplementedError

    def render_heat(self, x: Tensor, contributions: np.ndarray) -> dict[str, Any]:
        """One example (*data_shape) and its per-value anomaly contributions (same number of values)."""
        raise NotImplementedError


_VIEWS: list[type[View]] = []


def register_view(view: type[View]) -> type[View]:
    """Add a view class to the registry (usable as a class decorator); a later one with the same kind replaces it."""
    if not view.kind or not view.script:
        raise ValueError(f"{view.__name__} must set kind and script")
    _VIEWS[:] = [v for v in _VIEWS if v.kind != view.kind]
    _VIEWS.append(view)
    return view


def registered_views() -> list[type[View]]:
    """The registered view classes, in the order they are asked (highest priority first)."""
    return sorted(_VIEWS, key=lambda v: -v.priority)


def view_for(context: ViewContext) -> View:
    """The first registered view that applies to ``context``.

    Raises:
        ValueError: no view applies (names the kinds there are).
    """
    for view in registered_views():
        if view.applies_to(context):
            return view(context)
    raise ValueError(
        f"no explorer view shows data of shape {context.data_shape}; views: {[v.kind for v in registered_views()]}"
    )


# ----------------------------------------------------------------- helpers
def png_data_url(pixels: np.ndarray) -> str:
    """(H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA values in [0, 1] -> a ``data:image/png`` URL."""
    from PIL import Image

    array = np.clip(np.rint(np.asarray(pixels, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    mode = {2: "L", 3: "RGB" if array.ndim == 3 and array.shape[-1] == 3 else "RGBA"}[array.ndim]
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _finite(values: Sequence[float]) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in values]


# ------------------------------------------------------------------- images
@register_view
class ImageView(View):
    """Images (C, H, W) with 1 or 3 channels, shown as pictures (values clamped to [0, 1])."""

    kind = "image"
    script = "view-image.js"

    @classmethod
    def applies_to(cls, context: ViewContext) -> bool:
        shape = context.data_shape
        return len(shape) == 3 and shape[0] in (1, 3)

    def _pixels(self, image: Tensor) -> np.ndarray:
        array = image.detach().float().cpu().clamp(0, 1).numpy()  # (C, H, W)
        return array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)

    def render(self, x: Tensor) -> list[dict[str, Any]]:
        return [{"png": png_data_url(self._pixels(image))} for image in x.reshape(-1, *self.context.data_shape)]

    def render_heat(self, x: Tensor, contributions: np.ndarray) -> dict[str, Any]:
        from matplotlib import colormaps

        shape = self.context.data_shape
        heat = np.asarray(contributions, dtype=np.float64).reshape(shape).sum(0)  # (H, W): summed over channels
        scale = float(np.abs(heat).max()) or 1.0
        rgba = colormaps["inferno"](np.clip(heat / scale, 0, 1))  # (H, W, 4)
        rgba[..., 3] = 0.75
        return {
            "png": png_data_url(self._pixels(x.reshape(shape))),
            "heat": png_data_url(rgba),
            "max": scale,
        }


# ------------------------------------------------------------------- tables
@register_view
class TableView(View):
    """Feature vectors (D,), shown as a bar chart of the features in their own units.

    Bars are drawn against each feature's training range (``feature_range``) so that features of
    different units share one chart; the labels give the values in the data's units.
    """

    kind = "table"
    script = "view-table.js"
    priority = -1  # the fallback for any flat vector

    @classmethod
    def applies_to(cls, context: ViewContext) -> bool:
        return len(context.data_shape) == 1

    def describe(self) -> dict[str, Any]:
        d = self.context.data_shape[0]
        info = super().describe()
        info["columns"] = self.context.columns or [f"x{j}" for j in range(d)]
        if self.context.feature_range is not None:
            low, high = self.context.feature_range
            info["low"], info["high"] = _finite(low), _finite(high)
        return info

    def render(self, x: Tensor) -> list[dict[str, Any]]:
        raw = self.context.to_raw(x.detach().float().cpu().reshape(-1, *self.context.data_shape))
        return [{"values": _finite(row)} for row in raw.tolist()]

    def render_heat(self, x: Tensor, contributions: np.ndarray) -> dict[str, Any]:
        payload = self.render(x.reshape(1, -1))[0]
        payload["contributions"] = _finite(np.asarray(contributions, dtype=np.float64).reshape(-1))
        return payload


# --------------------------------------------------------------------- text
@register_view
class TextView(View):
    """Token sequences (text, or any sequences with a tokenizer), shown as the strings they decode to.

    The model's likelihood mean is its greedy decoding, so the default :meth:`View.decode` serves; the
    tokenizer is ``context.extra["tokenizer"]``.
    """

    kind = "text"
    script = "view-text.js"
    priority = 10  # before the table view, which would take a flat vector of token ids

    @classmethod
    def applies_to(cls, context: ViewContext) -> bool:
        return context.extra.get("tokenizer") is not None

    def render(self, x: Tensor) -> list[dict[str, Any]]:
        ids = x.detach().cpu().long().reshape(-1, *self.context.data_shape)
        return [{"text": text} for text in self.context.extra["tokenizer"].decode_batch(ids)]
