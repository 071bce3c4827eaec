"""The exploration tree: recursive selections over one embedded collection, as pure data.

- :mod:`~symsim_widgets.exploration.tree`: :class:`ExplorationTree` (the embeddings, the
  nodes, id allocation, observers, growth with the collection, saving and loading) and
  :class:`ExplorationNode` (one selection: root indices, layout, parameters);
- :mod:`~symsim_widgets.exploration.node`: the queries every node answers (walking,
  finding, mapping root indices to positions);
- :mod:`~symsim_widgets.exploration._format`: the JSON format, and
  :func:`encode_array` / :func:`decode_array` for arrays in JSON.

Nothing here imports a widget: views observe the tree.

Examples
--------
>>> import numpy as np
>>> from symsim_widgets.exploration import ExplorationTree
>>> embeddings = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
>>> tree = ExplorationTree.from_embeddings(embeddings, method="pca")
>>> corner = tree.root.child(positions=range(5), label="corner")
>>> again = ExplorationTree.from_json(tree.to_json(), embeddings=embeddings)
>>> again.find(corner.id).label, np.array_equal(again.find(corner.id).coords, corner.coords)
('corner', True)
"""

from symsim_widgets.exploration._format import (
    FORMAT,
    FORMAT_VERSION,
    TreeFormatError,
    decode_array,
    encode_array,
)
from symsim_widgets.exploration.tree import (
    DEFAULT_PARAMS,
    EVENT_TYPES,
    MIN_POINTS,
    ExplorationNode,
    ExplorationTree,
    Observer,
    TreeEvent,
)

__all__ = [
    "DEFAULT_PARAMS",
    "EVENT_TYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "MIN_POINTS",
    "ExplorationNode",
    "ExplorationTree",
    "Observer",
    "TreeEvent",
    "TreeFormatError",
    "decode_array",
    "encode_array",
]
