"""How frames are cut into square tiles at several length scales.

With ``tiles=`` a :class:`~symsim_widgets.collection.Collection` cuts each frame into square
tiles at each size of a :class:`Tiling`. A size is a fraction of the frame's short side
(float in (0, 1]), a number of pixels (int), or ``"full"`` (the whole frame, not square).
Along each axis tiles start every ``round(side * (1 - overlap))`` pixels; when the last one
does not reach the border, one more tile aligned to the border is added, so the tiles of
every size cover the whole frame. A pixel size larger than the frame is skipped for that
frame (it is not clipped: a "512px" item is always 512 pixels); tiles with a side below
``min_pixels`` are refused; a frame for which no size fits is refused too. With
``Tiling(sizes=(500, 1000), unit="nm")`` the sizes are physical: each frame's side in
pixels is ``round(size / pixel_size_nm)``, so every tile's ``w * pixel_size_nm`` is within
half a pixel of the size asked, whatever the scan size; a frame without a pixel size is
refused for those sizes, never tiled in pixels instead.

A collection records the tiling of every source (see
:attr:`~symsim_widgets.collection.Collection.provenance`); :meth:`Tiling.to_dict` and
:meth:`Tiling.from_dict` carry it through sessions and bundles, so nothing has to be
worked out again from the tiles' rectangles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Tiling"]

_UNITS = ("px", "fraction", "nm")


@dataclass(frozen=True)
class Tiling:
    """How frames are cut into square tiles at several length scales.

    Parameters
    ----------
    sizes : tuple
        Tile sizes. Without ``unit``: a float in (0, 1] is a fraction of the frame's short
        side, an int a side in pixels. With ``unit="nm"`` every number is a side in
        nanometres, cut from each frame's own pixel size, so frames of different scan
        sizes give tiles of the same field of view. ``"full"`` is always the whole frame.
    overlap : float
        Fraction of the tile side shared by neighbouring tiles, in [0, 1).
    min_pixels : int
        Tiles with a side (in pixels) below this are refused and listed in ``errors``.
    unit : {None, "px", "fraction", "nm"}
        The unit of every numeric size; ``None`` infers it from the type of each size
        (int: px, float: fraction).

    Examples
    --------
    >>> Tiling(sizes=(1.0, 0.5), overlap=0.5).rects(100, 200)[0]
    ('1', 0, 0, 100, 100)
    >>> Tiling(sizes=(500,), unit="nm").rects(256, 256, pixel_size_nm=7.8125)[0]
    ('500nm', 0, 0, 64, 64)
    """

    sizes: tuple[float | int | str, ...] = (1.0,)
    overlap: float = 0.0
    min_pixels: int = 32
    unit: str | None = None

    def __post_init__(self) -> None:
        sizes = (self.sizes,) if isinstance(self.sizes, (int, float, str)) else self.sizes
        object.__setattr__(self, "sizes", tuple(sizes))
        if not self.sizes:
            raise ValueError("Tiling needs at least one size")
        if self.unit is not None and self.unit not in _UNITS:
            raise ValueError(f"unit {self.unit!r}: need one of {', '.join(_UNITS)} or None")
        for s in self.sizes:
            if isinstance(s, str):
                if s != "full":
                    raise ValueError(f"tile size {s!r}: the only string size is 'full'")
            elif isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, float, np.number)):
                raise ValueError(f"tile size {s!r}: need a float in (0, 1], an int or 'full'")
            elif self.unit == "nm":
                if not (np.isfinite(s) and s > 0):
                    raise ValueError(f"tile size {s!r} nm: need a positive length")
            elif self._unit_of(s) == "fraction" and not 0 < s <= 1:
                raise ValueError(f"tile size {s!r}: a fraction must be in (0, 1]")
            elif self._unit_of(s) == "px" and (s < 1 or int(s) != s):
                raise ValueError(f"tile size {s!r}: a pixel size must be a whole number >= 1")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap {self.overlap!r} must be in [0, 1)")

    def _unit_of(self, size: float | int) -> str:
        if self.unit is not None:
            return self.unit
        return "px" if isinstance(size, (int, np.integer)) else "fraction"

    @classmethod
    def coerce(cls, tiles: Tiling | Sequence[float | int | str] | None) -> Tiling | None:
        """``None`` (whole frames), a Tiling, or a sequence of sizes -> Tiling or None."""
        if tiles is None or isinstance(tiles, Tiling):
            return tiles
        if isinstance(tiles, (int, float, str)):
            return cls(sizes=(tiles,))
        return cls(sizes=tuple(tiles))

    @staticmethod
    def label(size: float | int | str, unit: str | None = None) -> str:
        """Scale label of a size: ``"full"``, ``"0.5"`` (fraction), ``"64px"`` (pixels),
        ``"500nm"`` (nanometres).
        """
        if isinstance(size, str):
            return size
        if unit == "nm":
            return f"{float(size):g}nm"
        if unit == "px" or (unit is None and isinstance(size, (int, np.integer))):
            return f"{int(size)}px"
        return f"{float(size):g}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields of the tiling; :meth:`from_dict` gives back an equal one.

        Integer sizes stay integers and float sizes floats in JSON, so pixel and fraction
        sizes keep their meaning.

        Examples
        --------
        >>> Tiling(sizes=(1.0, 64, "full"), overlap=0.5).to_dict()
        {'sizes': [1.0, 64, 'full'], 'overlap': 0.5, 'min_pixels': 32, 'unit': None}
        """
        sizes: list[float | int | str] = [
            s if isinstance(s, str) else int(s) if isinstance(s, (int, np.integer)) else float(s)
            for s in self.sizes
        ]
        return {
            "sizes": sizes,
            "overlap": float(self.overlap),
            "min_pixels": int(self.min_pixels),
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tiling:
        """The tiling :meth:`to_dict` described.

        Raises
        ------
        ValueError
            When ``data`` is not such a description (the message names the field).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a tiling is described by a JSON object; got {data!r:.80}")
        unknown = set(data) - {"sizes", "overlap", "min_pixels", "unit"}
        if unknown:
            raise ValueError(f"a tiling has no field(s) {sorted(unknown)}")
        sizes = data.get("sizes")
        if not isinstance(sizes, list):
            raise ValueError(f"a tiling's 'sizes' must be a list; got {sizes!r:.80}")
        min_pixels = data.get("min_pixels", 32)
        if isinstance(min_pixels, bool) or not isinstance(min_pixels, int):
            raise ValueError(f"a tiling's 'min_pixels' must be an integer; got {min_pixels!r}")
        overlap = data.get("overlap", 0.0)
        if isinstance(overlap, bool) or not isinstance(overlap, (int, float)):
            raise ValueError(f"a tiling's 'overlap' must be a number; got {overlap!r}")
        return cls(
            sizes=tuple(sizes),
            overlap=float(overlap),
            min_pixels=min_pixels,
            unit=data.get("unit"),
        )

    @property
    def needs_pixel_size(self) -> bool:
        """Whether the tiling cuts physical sizes (needs each frame's pixel size)."""
        return self.unit == "nm" and any(s != "full" for s in self.sizes)

    @staticmethod
    def _starts(length: int, side: int, stride: int) -> list[int]:
        starts = list(range(0, length - side + 1, stride))
        if starts[-1] + side < length:
            starts.append(length - side)
        return starts

    def rects(
        self, height: int, width: int, *, pixel_size_nm: float = float("nan")
    ) -> list[tuple[str, int, int, int, int]]:
        """Tiles ``(scale, x, y, w, h)`` of a ``height x width`` frame (sizes that fit).

        Parameters
        ----------
        height, width : int
            The frame, in pixels.
        pixel_size_nm : float
            The frame's pixel size, needed for ``unit="nm"``.
        """
        return self._plan(height, width, pixel_size_nm)[0]

    def _plan(
        self, height: int, width: int, pixel_size_nm: float = float("nan")
    ) -> tuple[list[tuple[str, int, int, int, int]], list[str]]:
        rects: list[tuple[str, int, int, int, int]] = []
        problems: list[str] = []
        short = min(height, width)
        for size in self.sizes:
            label = self.label(size, self.unit)
            if size == "full":
                rects.append((label, 0, 0, width, height))
                continue
            unit = self._unit_of(size)
            if unit == "nm":
                if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
                    problems.append(
                        f"tile size {label} needs the pixel size, and this frame has no "
                        "calibration (pixel_size_nm is NaN): scale skipped; pass "
                        "pixel_size_nm= to give one"
                    )
                    continue
                side = max(1, round(float(size) / pixel_size_nm))
                if side > short:
                    continue  # larger than the frame: skipped, never clipped
            elif unit == "px":
                side = int(size)
                if side > short:
                    continue  # larger than the frame: skipped, never clipped
            else:
                side = max(1, round(float(size) * short))
            if side < self.min_pixels:
                problems.append(
                    f"tile size {label} is {side} px (frame {width} x {height}), below "
                    f"min_pixels={self.min_pixels}: scale skipped"
                )
                continue
            stride = max(1, round(side * (1 - self.overlap)))
            for y in self._starts(height, side, stride):
                for x in self._starts(width, side, stride):
                    rects.append((label, x, y, side, side))
        if not rects and not problems:
            sizes = [self.label(s, self.unit) for s in self.sizes]
            problems.append(f"frame {width} x {height} is smaller than every tile size {sizes}")
        return rects, problems
