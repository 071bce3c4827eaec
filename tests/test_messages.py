"""_messages: naming the items at fault."""

from __future__ import annotations

import numpy as np

from symsim_widgets._messages import preview


def test_preview():
    assert preview(np.array([3, 7])) == "3, 7"
    assert preview([]) == ""
    assert preview(np.arange(12)) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... (2 more)"
    assert preview(np.arange(6).reshape(2, 3), limit=2) == "0, 1, ... (4 more)"
