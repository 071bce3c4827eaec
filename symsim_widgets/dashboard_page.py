"""What a dashboard viewer's kernel runs: the notebook, the demo bundle, the root layout
and the read-only explorer.

:func:`dashboard_view` is the notebook's one call: it opens the bundle named by
:data:`BUNDLE_ENV` (or the demo bundle) read-only with :func:`open_dashboard`, drawing the
root map that :func:`prepare_root_layout` stored before Voila started, and says in words
why when it cannot. The server side (starting Voila, its kernel pool, load checks) is in
:mod:`symsim_widgets.dashboard`, which re-exports everything here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from symsim_widgets._files import write_text_atomically
from symsim_widgets.cache import cache_root

#: Environment variable naming the bundle the dashboard notebook opens.
BUNDLE_ENV = "SYMSIM_DASHBOARD_BUNDLE"
#: Environment variable with the most markers the map draws (optional).
MAX_MARKERS_ENV = "SYMSIM_DASHBOARD_MAX_MARKERS"
#: Environment variable naming the root layout file (``.npy``) the notebook uses; set by
#: :func:`serve`. Empty: the kernel projects the root itself.
LAYOUT_ENV = "SYMSIM_DASHBOARD_LAYOUT"
#: Bumped when the way the root layout is computed changes (old files are then unused).
_LAYOUT_VERSION = 1

_DASHBOARD_CODE = f"""\
# The symsim dashboard: a read-only explorer of one bundle.
# `symsim dashboard BUNDLE` sets {BUNDLE_ENV}; without it, the demo bundle is used
# (built into the cache at first use). A bundle that cannot be opened is explained in
# words instead of an explorer.
from symsim_widgets.dashboard import dashboard_view

view = dashboard_view()
view"""


def dashboard_notebook() -> dict[str, Any]:
    """The dashboard notebook (nbformat 4 JSON as a dict)."""
    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "intro",
                "metadata": {},
                "source": [
                    "# symsim dashboard\n",
                    "\n",
                    "Lasso points on the map, then *explore selection* to re-project them; "
                    "the tree on the right moves between levels. The map appears within "
                    "seconds; if it has not after a minute, the server is busy: reload "
                    "the page.",
                ],
            },
            {
                "cell_type": "code",
                "id": "explorer",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": _DASHBOARD_CODE.splitlines(keepends=True),
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_dashboard_notebook(path: str | os.PathLike[str]) -> Path:
    """Write :func:`dashboard_notebook` to ``path`` (only when its content differs)."""
    path = Path(path)
    text = json.dumps(dashboard_notebook(), indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, text)
    return path


def demo_bundle(
    *,
    model: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    include_wallpapers: bool = True,
) -> Path:
    """The demo bundle in the cache, built at first use.

    Parameters
    ----------
    model : str
        ``"auto"``: ``symmetry+natural`` when the symmetry weights are installed, else
        ``natural``.
    cache_dir : path, optional
        Where bundles go; default :func:`cache_root`.
    progress : bool
        Progress bars while building and embedding.
    include_wallpapers : bool
        Include the generated wallpaper patterns in the demo collection.

    Returns
    -------
    pathlib.Path
        The bundle folder.
    """
    from symsim_widgets.demo import demo_collection
    from symsim_widgets.pipeline import build_bundle

    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    suffix = "" if include_wallpapers else "-nowallpapers"

    def bundle_path(name: str) -> Path:
        return root / f"demo-{name.replace('+', '-')}{suffix}.symsim"

    if model == "auto":
        # A current demo bundle embedded with the symmetry branch is used as it is:
        # asking which models are installed builds the symmetry network (seconds, and
        # torch), which a dashboard kernel should not pay.
        if _is_current_demo(bundle_path("symmetry+natural")):
            return bundle_path("symmetry+natural")
        from symsim_widgets.models import best_available_model

        model = best_available_model()
    path = bundle_path(model)
    if _is_current_demo(path):
        return path
    from symsim_widgets.demo import DEMO_VERSION

    collection = demo_collection(progress=progress, include_wallpapers=include_wallpapers)
    return build_bundle(
        collection,
        path,
        model=model,
        progress=progress,
        info={"demo_version": DEMO_VERSION, "inputs": ["<demo>"]},
        overwrite=True,
    )


def _is_current_demo(path: Path) -> bool:
    """Whether ``path`` is a demo bundle of the current :data:`DEMO_VERSION`."""
    from symsim_widgets.bundle import BundleError, read_manifest
    from symsim_widgets.demo import DEMO_VERSION

    try:
        manifest = read_manifest(path)
    except BundleError:
        return False
    return manifest.get("info", {}).get("demo_version") == DEMO_VERSION


# ---------------------------------------------------------------------- root layout
#: Keyword arguments of :func:`open_dashboard` that do not change the root's layout.
_LAYOUT_NEUTRAL = frozenset({"max_markers", "read_only", "tree"})


def root_layout_file(bundle: str | os.PathLike[str]) -> Path:
    """Where the cache keeps the dashboard's root layout of ``bundle``.

    The name is a hash of the bundle's manifest, the size and modification time of its
    embeddings and the package version, so a rewritten bundle or an upgrade gets a new
    layout, and a bundle folder that cannot be written to (or is shared) is never
    touched.

    Raises
    ------
    BundleError
        When ``bundle`` is not a bundle folder.
    """
    from symsim_widgets import __version__
    from symsim_widgets.bundle import embedding_files

    folder = Path(bundle).expanduser().resolve()
    files = embedding_files(folder)  # BundleError with a clear message for a non-bundle
    digest = hashlib.sha256()
    digest.update((folder / "manifest.json").read_bytes())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}:".encode())
    digest.update(f"{__version__}:{_LAYOUT_VERSION}".encode())
    return cache_root() / "dashboard" / "layouts" / f"{digest.hexdigest()[:24]}.npy"


def prepare_root_layout(bundle: str | os.PathLike[str]) -> Path:
    """Project the root of ``bundle`` as the dashboard shows it, once, into the cache.

    The layout is made by the explorer itself (:meth:`Explorer.from_bundle` with the
    bundle's own blend weight and the default projection parameters), so a kernel that
    reads it shows exactly the map it would have computed. A layout already in the
    cache is reused.

    Returns
    -------
    pathlib.Path
        The ``.npy`` file (:func:`root_layout_file`).
    """
    import numpy as np

    from symsim_widgets.widgets import Explorer

    path = root_layout_file(bundle)
    if path.is_file():
        return path
    explorer = Explorer.from_bundle(Path(bundle).expanduser().resolve(), read_only=True)
    coords = np.asarray(explorer.tree.coords, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.stem}-{os.getpid()}.npy")
    np.save(staging, coords, allow_pickle=False)
    os.replace(staging, path)
    return path


def _stored_layout(bundle: str | os.PathLike[str], kwargs: dict[str, Any]) -> Any:
    """The root layout prepared for ``bundle``, or None (then the kernel projects)."""
    import numpy as np

    if set(kwargs) - _LAYOUT_NEUTRAL:
        return None  # other projection parameters or a given layout: not the stored one
    named = os.environ.get(LAYOUT_ENV)
    if named == "":
        return None  # served with root_layout=False
    try:
        path = Path(named) if named is not None else root_layout_file(bundle)
        if not path.is_file():
            return None
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # unreadable: project instead


def open_dashboard(bundle: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
    """The read-only explorer the dashboard shows.

    Parameters
    ----------
    bundle : path, optional
        Default: ``$SYMSIM_DASHBOARD_BUNDLE``, else the demo bundle (:func:`demo_bundle`).
    **kwargs
        Passed to :meth:`Explorer.from_bundle`. Without projection parameters, the root
        layout prepared by :func:`prepare_root_layout` is used when there is one (the
        file named by ``$SYMSIM_DASHBOARD_LAYOUT``, else the cache's), so opening the
        page imports neither umap-learn nor torch. The bundle is memory-mapped
        (``Bundle.load(path, mmap=True)``).
    """
    import warnings

    from symsim_widgets.bundle import Bundle
    from symsim_widgets.widgets import Explorer

    # Library notices (e.g. torch on read-only arrays) are not for dashboard visitors.
    warnings.filterwarnings("ignore", category=UserWarning)
    if bundle is None:
        bundle = os.environ.get(BUNDLE_ENV) or demo_bundle(progress=False)
    if MAX_MARKERS_ENV in os.environ and "max_markers" not in kwargs:
        kwargs["max_markers"] = int(os.environ[MAX_MARKERS_ENV])
    coords = _stored_layout(bundle, kwargs)
    if coords is not None:
        kwargs["coords"] = coords
    # Memory-mapped: every viewer's kernel shares the one copy in the page cache.
    path = str(Path(bundle).expanduser().resolve())
    explorer = Explorer.from_bundle(Bundle.load(path, mmap=True), read_only=True, **kwargs)
    explorer._bundle_path = path  # what a saved session records (as from_bundle(path) does)
    return explorer


def dashboard_view(bundle: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
    """What the dashboard page shows: the explorer, or why it cannot be shown.

    As :func:`open_dashboard`, except that a failure (a missing or corrupt bundle, a
    machine out of memory) becomes a short message on the page, in words, rather than a
    traceback or an empty page; the error also goes to the kernel's standard error, which
    Voila's log keeps.

    Returns
    -------
    Explorer or ipywidgets.HTML
    """
    import html

    try:
        return open_dashboard(bundle, **kwargs)
    except Exception as exc:  # every failure is shown to the visitor, in words
        import ipywidgets

        print(f"symsim dashboard: cannot open the explorer: {exc!r}", file=sys.stderr)
        return ipywidgets.HTML(
            "<div class='symsim-dashboard-error' style='font-size:15px;color:#a00'>"
            f"The dashboard could not open its map: {html.escape(str(exc))}</div>"
        )
