"""Jupyter widgets over an exploration tree.

:class:`Explorer` composes small views, one job each:

* :class:`ScatterView` (``scatter.py``): the bqplot map, exact lasso/box selection,
  level of detail for large maps, hover thumbnails;
* :class:`GalleryView` (``gallery.py``): paged thumbnails of the selection;
* :class:`MosaicView` (``mosaic.py``): thumbnails on a grid over the map, as a PNG;
* :class:`TreeView` (``tree.py``): breadcrumbs and the tree, rename and close;
* :class:`ControlsView` (``controls.py``): mode, colouring, weight, actions, messages.

``session.py`` exports selections and turns an explorer into a
:class:`~symsim_widgets.session.Session` and back; ``lod.py`` holds the
geometry (binning and point-in-polygon) that keeps 25,000-point maps responsive.
"""

from symsim_widgets.widgets.controls import ControlsView
from symsim_widgets.widgets.explorer import Explorer, SelectionError
from symsim_widgets.widgets.gallery import GalleryView
from symsim_widgets.widgets.mosaic import MosaicView
from symsim_widgets.widgets.scatter import PointSet, ScatterView
from symsim_widgets.widgets.tree import TreeView

__all__ = [
    "ControlsView",
    "Explorer",
    "GalleryView",
    "MosaicView",
    "PointSet",
    "ScatterView",
    "SelectionError",
    "TreeView",
]
