"""pycroscopy NSID HDF5 files, through h5py.

Part of :mod:`symsim_widgets.imaging.spm` (see its table for how each format is read).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from symsim_widgets.imaging.reader import (
    FrameInfo,
    ImageDecodeError,
    ImageReader,
    check_pixels,
    length_in_nm,
)
from symsim_widgets.imaging.spm_channels import (
    clean_channel_name,
    drop_unscanned_rows,
    plain_value,
)

__all__ = ["NsidReader", "nsid_datasets"]


def _attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _attr_text(value.reshape(-1)[0])
    return "" if value is None else str(value)


def nsid_datasets(h5file: Any) -> list[str]:
    """Names of the 2-D NSID main datasets (attributes ``quantity`` and ``units``)."""
    import h5py

    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if (
            isinstance(obj, h5py.Dataset)
            and obj.ndim == 2
            and "quantity" in obj.attrs
            and "units" in obj.attrs
            and obj.dtype.kind in "iuf"
        ):
            found.append(name)

    h5file.visititems(visit)
    return found


class NsidReader(ImageReader):
    """pycroscopy NSID HDF5: one frame per 2-D main dataset."""

    format = "nsid"

    def __init__(self, path: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        import h5py

        try:
            self._file = h5py.File(path, "r")
        except Exception as err:
            raise ImageDecodeError(f"truncated or corrupt HDF5 file: {err}") from None
        try:
            self._names = nsid_datasets(self._file)
            if not self._names:
                raise ImageDecodeError(
                    "no image dataset: the HDF5 file has no 2-D NSID dataset (a dataset "
                    "with 'quantity' and 'units' attributes)"
                )
            self._infos = [self._info(name) for name in self._names]
        except BaseException:
            self._file.close()
            raise
        self.n_frames = len(self._names)

    def _scales(self, dataset: Any) -> list[tuple[str, np.ndarray | None, str, str]]:
        labels = [_attr_text(v) for v in dataset.attrs.get("DIMENSION_LABELS", [])]
        out = []
        for axis, dim in enumerate(dataset.dims):
            label = labels[axis] if axis < len(labels) else ""
            values, units, kind = None, "", ""
            if len(dim):
                scale = dim[0]
                with contextlib.suppress(Exception):
                    values = np.asarray(scale[()], dtype=np.float64)
                units = _attr_text(scale.attrs.get("units", ""))
                kind = _attr_text(scale.attrs.get("dimension_type", ""))
                label = label or _attr_text(scale.attrs.get("name", ""))
            out.append((label.lower(), values, units, kind.upper()))
        return out

    def _info(self, name: str) -> FrameInfo:
        dataset = self._file[name]
        channel, direction = clean_channel_name(_attr_text(dataset.attrs["quantity"]))
        scales = self._scales(dataset)
        x_axis = 0 if scales and scales[0][0] == "x" else 1
        pixel = math.nan
        if len(scales) > x_axis and scales[x_axis][1] is not None:
            _, values, units, kind = scales[x_axis]
            if values.size > 1:
                step = float(np.median(np.abs(np.diff(values))))
                pixel = length_in_nm(step, units)
                if not math.isfinite(pixel) and kind == "SPATIAL":
                    # some sidpy conversions write the data units on spatial axes: a
                    # spatial axis is a length, stored in metres
                    pixel = length_in_nm(step, "m")
        return FrameInfo(channel, direction, _attr_text(dataset.attrs["units"]), pixel)

    def frame_info(self, k: int) -> FrameInfo:
        return self._infos[k]

    def frame_shape(self, k: int) -> tuple[int, int]:
        shape = self._file[self._names[k]].shape
        if self._x_first(k):
            return int(shape[1]), int(shape[0])
        return int(shape[0]), int(shape[1])

    def _x_first(self, k: int) -> bool:
        scales = self._scales(self._file[self._names[k]])
        return bool(scales) and scales[0][0] == "x"

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self.frame_shape(k), self.max_pixels)
        try:
            data = np.asarray(self._file[self._names[k]][()])
        except Exception as err:
            raise ImageDecodeError(f"corrupt NSID dataset {self._names[k]}: {err}") from None
        if self._x_first(k):
            data = np.ascontiguousarray(data.T[::-1])
        return drop_unscanned_rows(data)

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self._names:
            dataset = self._file[name]
            entry = {
                "attributes": {
                    k: plain_value(v) for k, v in dataset.attrs.items() if k != "DIMENSION_LIST"
                }
            }
            parent = dataset.parent
            if "original_metadata" in parent:
                entry["original_metadata"] = {
                    k: plain_value(v) for k, v in parent["original_metadata"].attrs.items()
                }
            out[name] = entry
        return out

    def close(self) -> None:
        self._file.close()
