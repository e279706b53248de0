"""A latent-space explorer in the browser: ``vaekit explore RUN`` (needs the ``explore`` extra: FastAPI, uvicorn).

* :mod:`vaekit.explore.explorer`: the computations (map, sliders, decoding, generation, anomaly scores).
* :mod:`vaekit.explore.views`: how each data kind is shown, a registry of views (the plug-in point).
* :mod:`vaekit.explore.sources`: opening a run folder, a saved model or an anomaly detector.
* :mod:`vaekit.explore.server`: the web app and its security rules; ``static/`` holds the page.
* :mod:`vaekit.explore.serving`: uvicorn on a socket bound first (the URL is known, port 0 works).
"""

from vaekit.explore.explorer import ExploreError, Explorer, Projection
from vaekit.explore.sources import open_explorer
from vaekit.explore.views import View, ViewContext, register_view, registered_views, view_for

__all__ = [
    "ExploreError",
    "Explorer",
    "Projection",
    "View",
    "ViewContext",
    "open_explorer",
    "register_view",
    "registered_views",
    "view_for",
]
