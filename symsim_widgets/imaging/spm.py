"""Readers of scanning-probe files: Asylum Igor ``.ibw``, Gwyddion ``.gwy``, Nanonis
``.sxm`` and pycroscopy NSID HDF5.

Every image channel (and scan direction, where a file holds both) is a frame, with a
:class:`~symsim_widgets.imaging.reader.FrameInfo` naming its clean channel, direction,
value units and pixel size. Orientation: row 0 is the top of the image as the instrument's
own software shows it, and x grows to the right.

==========  =============================================================================
format      how it is read
==========  =============================================================================
``.ibw``    igor2; arrays come as ``(x, y, layer)``: each layer is transposed to
            ``(y, x)`` and flipped so the largest y is row 0 (Igor's y axis points up).
            Pixel size from the wave's x scaling (``sfA``) in metres; the layer labels
            (stored garbled by Asylum, e.g. ``PhaseRetracerace``) are cleaned to
            ``Phase`` + ``retrace``. Value units: the note's ``<channel>Unit`` entry, else
            the usual Asylum unit for the channel name (Height, Amplitude, Deflection,
            ZSensor: m; Phase: deg; Frequency: Hz; Current: A; UserIn, Potential, Bias,
            Lateral: V), else the wave's own data units.
``.gwy``    gwyfile (current ``GWYP`` format); every ``/N/data`` field, row 0 at the top
            as Gwyddion stores it; pixel size ``xreal / xres``. The Gwyddion 1.x format
            (``GWYO``), which gwyfile cannot read, by our own parser: its container
            items carry GLib type ids, its objects are serialised as in ``GWYP``, its
            strings may be Latin-1, and its unit strings keep a display prefix (``µm``)
            while the values are in base SI units; format ``gwy-v1``.
``.sxm``    our own reader: a text header, ``\\x1a\\x04``, then one big-endian float32
            plane per channel and direction (forward, then backward when ``both``), each
            plane in acquisition order. Backward planes are reversed along x so both
            directions share the forward x axis; rows are stored in the order they were
            scanned, so a ``SCAN_DIR`` of ``up`` (scanned from the bottom) is flipped to
            put the top first and ``down`` is kept. Pixel size ``SCAN_RANGE / SCAN_PIXELS``.
NSID        h5py: every 2-D dataset with ``quantity`` and ``units`` attributes is a
            channel; dimension scales give the pixel size; dimensions labelled
            ``(x, y)`` are transposed and flipped like Igor waves.
==========  =============================================================================

Unscanned rows (a scan stopped early leaves NaN rows) are dropped from the top and bottom
of a frame; NaN pixels inside it are masked by the pixel recipe.
"""

from __future__ import annotations

from symsim_widgets.imaging.spm_channels import clean_channel_name
from symsim_widgets.imaging.spm_gwyddion import GwyddionReader
from symsim_widgets.imaging.spm_igor import IgorReader, is_igor_wave
from symsim_widgets.imaging.spm_nanonis import NanonisReader
from symsim_widgets.imaging.spm_nsid import NsidReader, nsid_datasets

__all__ = [
    "GwyddionReader",
    "IgorReader",
    "NanonisReader",
    "NsidReader",
    "clean_channel_name",
    "is_igor_wave",
    "nsid_datasets",
]
