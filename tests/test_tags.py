"""Tags: named sets of items, their validation, their item column and their JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symsim_widgets.tags import UNTAGGED, TagError, Tags


def test_a_tag_holds_sorted_unique_indices_and_replaces_itself():
    tags = Tags(10)
    assert tags.add(" a-domains ", [4, 2, 4]).tolist() == [2, 4]
    assert list(tags) == ["a-domains"]
    tags.add("a-domains", [7])
    assert tags["a-domains"].tolist() == [7]
    with pytest.raises(ValueError):
        tags["a-domains"][0] = 1  # read-only


def test_the_tag_column_joins_tags_in_the_order_made():
    tags = Tags(4)
    tags.add("defects", [1, 3])
    tags.add("a-domains", [0, 1])
    assert tags.column().tolist() == ["a-domains", "defects + a-domains", UNTAGGED, "defects"]
    assert tags.of_item(1) == ["defects", "a-domains"] and tags.of_item(2) == []
    tags.remove("defects")
    assert tags.column().tolist() == ["a-domains", "a-domains", UNTAGGED, UNTAGGED]


@pytest.mark.parametrize(
    ("name", "indices", "message"),
    [
        ("", [1], "needs a name"),
        ("   ", [1], "needs a name"),
        (3, [1], "must be text"),
        ("x" * 61, [1], "longer than 60"),
        (UNTAGGED, [1], "choose another name"),
        ("a", [], "no items"),
        ("a", [1, 10, -1], r"outside the collection of 10 items: \[-1, 10\]"),
        ("a", [0.5], "integers"),
    ],
)
def test_bad_tags_are_refused_with_a_reason(name, indices, message):
    with pytest.raises(TagError, match=message):
        Tags(10).add(name, np.asarray(indices))


def test_tags_round_trip_through_json():
    tags = Tags(6)
    tags.add("b", [5])
    tags.add("a", [0, 1])
    again = Tags.from_json(json.loads(json.dumps(tags.to_json())), 6)
    assert again == tags and list(again) == ["b", "a"]
    with pytest.raises(TagError, match="outside"):
        Tags.from_json({"a": [9]}, 6)
    with pytest.raises(TagError, match="JSON object"):
        Tags.from_json(["a"], 6)
    with pytest.raises(KeyError, match="no tag 'c'"):
        tags.remove("c")
