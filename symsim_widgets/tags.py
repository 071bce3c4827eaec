"""Tags: named sets of items ("a-domains", "defects") a user gives to selections.

:class:`Tags` maps a name to the sorted root indices it holds. It knows nothing of
widgets: the Explorer keeps one (:meth:`Explorer.tag
<symsim_widgets.widgets.explorer.Explorer.tag>`), sessions store it, exported
selections carry each item's tags, and :meth:`Tags.column` turns it into an item column
the map can be coloured by and the source view can paint.

Examples
--------
>>> tags = Tags(5)
>>> tags.add("defects", [3, 1]).tolist()
[1, 3]
>>> _ = tags.add("a-domains", [0, 1])
>>> tags.column().tolist()
['a-domains', 'defects + a-domains', '(untagged)', 'defects', '(untagged)']
>>> Tags.from_json(tags.to_json(), 5) == tags
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["MAX_TAG_LENGTH", "TAG_COLUMN", "UNTAGGED", "TagError", "Tags"]

#: The item column that holds each item's tags (what the map is coloured by).
TAG_COLUMN = "tags"
#: What an item without a tag shows in :data:`TAG_COLUMN`.
UNTAGGED = "(untagged)"
#: Longest tag name.
MAX_TAG_LENGTH = 60


class TagError(ValueError):
    """A tag name or its items cannot be used; the message says which and why."""


class Tags(Mapping[str, np.ndarray]):
    """Named sets of root indices of a collection of ``n_items`` items.

    A mapping from tag name to the sorted, unique root indices it holds (read-only
    arrays), in the order the tags were made.

    Parameters
    ----------
    n_items : int
        Number of items of the collection (root indices are ``0 .. n_items - 1``).
    """

    def __init__(self, n_items: int) -> None:
        if int(n_items) < 0:
            raise TagError(f"a collection cannot have {n_items} items")
        self.n_items = int(n_items)
        self._sets: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._sets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tags):
            return NotImplemented
        return (
            self.n_items == other.n_items
            and list(self._sets) == list(other._sets)
            and all(np.array_equal(self._sets[k], other._sets[k]) for k in self._sets)
        )

    def add(self, name: str, root_indices: Any) -> np.ndarray:
        """Tag ``root_indices`` as ``name`` (replacing the items of an existing tag).

        Returns the tag's sorted root indices.

        Raises
        ------
        TagError
            An empty or over-long name, no items, or indices outside the collection
            (the first ten are named).
        """
        name = check_tag_name(name)
        values = np.asarray(root_indices)
        if values.dtype.kind not in "iu" and values.size:
            if (
                values.dtype.kind == "f"
                and np.all(np.isfinite(values))
                and np.all(values == np.round(values))
            ):
                values = values.astype(np.int64)
            else:
                raise TagError(f"tag {name!r}: root indices must be integers, got {values.dtype}")
        indices = np.unique(values.astype(np.int64).reshape(-1))
        if indices.size == 0:
            raise TagError(f"tag {name!r}: no items to tag (select some first)")
        outside = indices[(indices < 0) | (indices >= self.n_items)]
        if outside.size:
            raise TagError(
                f"tag {name!r}: root indices outside the collection of {self.n_items} items: "
                f"{outside[:10].tolist()}"
            )
        indices.setflags(write=False)
        self._sets[name] = indices
        return indices

    def remove(self, name: str) -> None:
        """Forget the tag ``name``.

        Raises
        ------
        KeyError
            No such tag (the message lists the tags there are).
        """
        if name not in self._sets:
            raise KeyError(f"no tag {name!r}; the tags are {sorted(self._sets)}")
        del self._sets[name]

    def of_item(self, root_index: int) -> list[str]:
        """The tags of one item, in the order the tags were made."""
        i = int(root_index)
        return [
            name
            for name, indices in self._sets.items()
            if indices.size
            and np.searchsorted(indices, i) < indices.size
            and indices[np.searchsorted(indices, i)] == i
        ]

    def column(self) -> np.ndarray:
        """Each item's tags as one label ("a-domains + defects"; :data:`UNTAGGED` for
        none): the values of the :data:`TAG_COLUMN` item column."""
        labels = np.full(self.n_items, "", dtype=object)
        for name, indices in self._sets.items():
            joined = np.where(labels[indices] == "", name, labels[indices] + " + " + name)
            labels[indices] = joined
        labels[labels == ""] = UNTAGGED
        return labels

    def to_json(self) -> dict[str, list[int]]:
        """The tags as a JSON-ready dict of name to root indices (in the order made)."""
        return {name: indices.tolist() for name, indices in self._sets.items()}

    @classmethod
    def from_json(cls, record: Any, n_items: int) -> Tags:
        """Tags read back from :meth:`to_json`.

        Raises
        ------
        TagError
            When ``record`` is not a mapping of names to lists of root indices of a
            collection of ``n_items`` items.
        """
        if not isinstance(record, Mapping):
            raise TagError(f"tags must be a JSON object of name to indices, got {record!r:.80}")
        tags = cls(n_items)
        for name, indices in record.items():
            if not isinstance(indices, list):
                raise TagError(f"tag {name!r}: expected a list of root indices")
            tags.add(name, np.asarray(indices, dtype=np.int64))
        return tags


def check_tag_name(name: Any) -> str:
    """A tag name, stripped; refused when empty, too long or not text."""
    if not isinstance(name, str):
        raise TagError(f"a tag name must be text, got {type(name).__name__}")
    stripped = " ".join(name.split())
    if not stripped:
        raise TagError("a tag needs a name (e.g. 'a-domains')")
    if len(stripped) > MAX_TAG_LENGTH:
        raise TagError(f"tag name {stripped[:20]!r}... is longer than {MAX_TAG_LENGTH} characters")
    if stripped == UNTAGGED:
        raise TagError(f"{UNTAGGED!r} is what untagged items show; choose another name")
    return stripped
