"""Readers of electron-microscopy files through rosettasciio (the optional ``em`` extra).

Gatan DigitalMicrograph ``.dm3``/``.dm4``, Velox and Berkeley EMD (HDF5) and TIA ``.ser``
are read with rosettasciio, which is GPL-3 licensed: it is imported only when such a file
is opened, and never by the core package. Without it these files are refused with the
reason ``... needs the optional 'em' extra: pip install symsim-widgets[em]``.

Every 2-D signal of a file is a frame (a 3-D stack gives one frame per slice); its title
(``HAADF``, ``BF``) is the channel, its x axis scale the pixel size (NaN when the file has
no length calibration, as DigitalMicrograph files saved without one).
"""

from __future__ import annotations

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

__all__ = ["EM_FORMATS", "RosettaReader", "install_hint"]

#: Formats read through rosettasciio: our format name -> (rosettasciio plugin, name).
EM_FORMATS = {
    "dm": ("digitalmicrograph", "DigitalMicrograph .dm3/.dm4"),
    "emd": ("emd", "EMD (Velox/Berkeley)"),
    "ser": ("tia", "TIA .ser"),
}


def install_hint(name: str) -> str:
    """The refusal reason for a file that needs the ``em`` extra."""
    return (
        f"{name} needs the optional 'em' extra: pip install symsim-widgets[em] "
        "(rosettasciio, GPL-3, installed separately from the MIT core)"
    )


def _file_reader(fmt: str) -> Any:
    plugin, name = EM_FORMATS[fmt]
    try:
        import importlib

        module = importlib.import_module(f"rsciio.{plugin}")
    except ImportError:
        raise ImageDecodeError(install_hint(name)) from None
    return module.file_reader


def _axis_pixel_nm(axes: list[dict[str, Any]]) -> float:
    signal_axes = [a for a in axes if not a.get("navigate", False)]
    if not signal_axes:
        return math.nan
    x = next((a for a in signal_axes if str(a.get("name", "")).lower() == "x"), signal_axes[-1])
    return length_in_nm(abs(float(x.get("scale", math.nan))), str(x.get("units", "")))


def _plain_tree(value: Any, depth: int = 0) -> Any:
    if depth > 12:
        return repr(value)
    if hasattr(value, "as_dictionary"):
        value = value.as_dictionary()
    if isinstance(value, dict):
        return {str(k): _plain_tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_tree(v, depth + 1) for v in value[:256]]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"array{value.shape}"
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


class RosettaReader(ImageReader):
    """A DigitalMicrograph, EMD or TIA file read with rosettasciio."""

    def __init__(self, path: str, fmt: str, max_pixels: int | None):
        super().__init__(path, max_pixels)
        self.format = fmt
        file_reader = _file_reader(fmt)
        name = EM_FORMATS[fmt][1]
        try:
            signals = file_reader(path, lazy=False)
        except Exception as err:
            raise ImageDecodeError(f"truncated or corrupt {name} file: {err}") from None
        self._frames: list[tuple[Any, int | None]] = []
        self._infos: list[FrameInfo] = []
        self._signals = signals
        for signal in signals:
            data = signal["data"]
            if data.ndim < 2 or np.dtype(data.dtype).kind not in "iuf":
                continue  # spectra, text and complex data are not images
            general = signal.get("metadata", {}).get("General", {})
            title = str(general.get("title", "")) or f"signal{len(self._infos)}"
            pixel = _axis_pixel_nm(signal.get("axes", []))
            units = str(signal.get("metadata", {}).get("Signal", {}).get("quantity", ""))
            slices = [None] if data.ndim == 2 else list(range(int(np.prod(data.shape[:-2]))))
            for index in slices:
                self._frames.append((signal, index))
                self._infos.append(FrameInfo(title, "", units, pixel))
            if not self.source_info:
                self.source_info = {
                    "instrument": _instrument(signal),
                    "date": " ".join(
                        str(general.get(k, "")) for k in ("date", "time") if general.get(k)
                    ),
                }
        if not self._frames:
            raise ImageDecodeError(f"no image: the {name} file holds no 2-D signal")
        self.n_frames = len(self._frames)

    def frame_info(self, k: int) -> FrameInfo:
        return self._infos[k]

    def frame_shape(self, k: int) -> tuple[int, int]:
        shape = self._frames[k][0]["data"].shape
        return int(shape[-2]), int(shape[-1])

    def read(self, k: int, *, min_side: int | None = None) -> np.ndarray:
        check_pixels(*self.frame_shape(k), self.max_pixels)
        signal, index = self._frames[k]
        data = signal["data"]
        if index is not None:
            data = data.reshape(-1, *data.shape[-2:])[index]
        try:
            return np.asarray(data.compute() if hasattr(data, "compute") else data)
        except Exception as err:
            raise ImageDecodeError(f"corrupt {EM_FORMATS[self.format][1]} data: {err}") from None

    def metadata(self) -> dict[str, Any]:
        return {
            str(signal.get("metadata", {}).get("General", {}).get("title", i)): {
                "metadata": _plain_tree(signal.get("metadata", {})),
                "original_metadata": _plain_tree(signal.get("original_metadata", {})),
            }
            for i, signal in enumerate(self._signals)
        }


def _instrument(signal: dict[str, Any]) -> str:
    original = signal.get("original_metadata", {}) or {}
    with_model = original.get("Instrument", {}) if isinstance(original, dict) else {}
    if isinstance(with_model, dict):
        model = with_model.get("InstrumentModel") or with_model.get("InstrumentClass")
        if model:
            return str(model)
    microscope = signal.get("metadata", {}).get("Acquisition_instrument", {})
    if isinstance(microscope, dict):
        tem = microscope.get("TEM", {}) or microscope.get("SEM", {})
        if isinstance(tem, dict) and tem.get("microscope"):
            return str(tem["microscope"])
    return ""
