"""Real images for the retrieval benchmarks: scikit-image, SPIEPy and instrument files.

Every source is a 2-D float array of real measurements or photographs:

- scikit-image's bundled images (``skimage.data``): brick, grass, gravel (CC0
  textures), cell (quantitative phase), coins, moon, camera, and the grey versions of
  retina, hubble_deep_field and immunohistochemistry;
- SPIEPy's three demo STM topographs (``spiepy.demo``), levelled with
  ``spiepy.flatten_xy``;
- the instrument files in ``../shared/data/microscopy`` (read-only, never copied), read
  with the libraries that define their formats: the PFM scans
  ``IgorIBWReader_P0089OP0027.ibw`` (igor2), ``PTO_110_Virgin0001.gwy`` (gwyfile) and
  ``PTO_Funakubo0001.h5`` (h5py, pycroscopy NSID layout), every channel; the STEM images
  ``DMReader_Image_SI-Survey.dm3`` and ``EMDReader_Image_FEI.emd`` (rosettasciio); the
  Nanonis STM scan ``Au_mica_..._058.sxm`` (its ``Current`` channel, forward, read from
  the header's data offset as big-endian float32).

Missing libraries or files drop their sources with a note (never an error), so the
benchmark runs wherever scikit-image is installed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MICROSCOPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "microscopy"

#: The PFM scans and the sample each one shows (the label of the grouping test).
PFM_FILES = {
    "IgorIBWReader_P0089OP0027.ibw": "P0089 film (Cypher, 2 um)",
    "PTO_110_Virgin0001.gwy": "PbTiO3 (110), virgin (10 um)",
    "PTO_Funakubo0001.h5": "PbTiO3 films, Funakubo series",
}


@dataclass
class RealImages:
    """Named 2-D sources plus the PFM channels and notes on what was skipped."""

    sources: dict[str, np.ndarray] = field(default_factory=dict)
    pfm: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return image


def _skimage_sources() -> dict[str, np.ndarray]:
    from skimage import data

    names = (
        "brick",
        "grass",
        "gravel",
        "cell",
        "coins",
        "moon",
        "camera",
        "retina",
        "hubble_deep_field",
        "immunohistochemistry",
    )
    return {f"skimage.{n}": _grey(getattr(data, n)()) for n in names}


def _spiepy_sources() -> dict[str, np.ndarray]:
    with warnings.catch_warnings():  # spiepy imports the deprecated numpy.matlib
        warnings.simplefilter("ignore")
        import spiepy
        import spiepy.demo

    out = {}
    for name in spiepy.demo.list_demo_files().values():
        heights = np.asarray(spiepy.demo.load_demo_file(name), dtype=np.float64)
        levelled, _ = spiepy.flatten_xy(heights)
        out[f"spiepy.{name.removesuffix('.dat')}"] = np.asarray(levelled, dtype=np.float64)
    return out


def _ibw_channels(path: Path) -> dict[str, np.ndarray]:
    from igor2 import binarywave

    wave = binarywave.load(str(path))["wave"]
    data = np.asarray(wave["wData"], dtype=np.float64)
    names = ("HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace", "UserIn0")
    return {names[c]: data[..., c].T for c in range(data.shape[2])}


def _gwy_channels(path: Path) -> dict[str, np.ndarray]:
    import gwyfile

    fields = gwyfile.util.get_datafields(gwyfile.load(str(path)))
    return {name: np.asarray(f.data, dtype=np.float64) for name, f in fields.items()}


def _nsid_channels(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for c in range(8):
            key = f"Measurement_000/Channel_{c}/Channel_{c}/Channel_{c}"
            if key in f:
                ds = f[key]
                label = ds.attrs.get("quantity", f"Channel_{c}")
                label = label.decode() if isinstance(label, bytes) else str(label)
                out[label] = np.asarray(ds[()], dtype=np.float64)
    return out


def _sxm_current(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    end = raw.index(b":SCANIT_END:")
    header = raw[:end].decode("latin-1")
    pixels = header.split(":SCAN_PIXELS:")[1].split()[:2]
    nx, ny = int(pixels[0]), int(pixels[1])
    info = header.split(":DATA_INFO:")[1].strip().splitlines()[1:]
    channels = [line.split()[1] for line in info if line.strip()]
    directions = [line.split()[3] for line in info if line.strip()]
    start = raw.index(b"\x1a\x04", end) + 2
    planes = []
    for name, direction in zip(channels, directions, strict=True):
        planes.append((name, "forward"))
        if direction == "both":
            planes.append((name, "backward"))
    k = planes.index(("Current", "forward"))
    data = np.frombuffer(raw, dtype=">f4", count=nx * ny, offset=start + 4 * k * nx * ny)
    return data.reshape(ny, nx).astype(np.float64)


def _rsciio_image(reader: Callable[[str], list[dict]], path: Path) -> np.ndarray:
    return np.asarray(reader(str(path))[0]["data"], dtype=np.float64)


def _instrument_sources(images: RealImages) -> None:
    if not MICROSCOPY.is_dir():
        images.skipped.append(f"instrument files: {MICROSCOPY} is missing")
        return
    readers: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
        ".ibw": _ibw_channels,
        ".gwy": _gwy_channels,
        ".h5": _nsid_channels,
    }
    for name, sample in PFM_FILES.items():
        path = MICROSCOPY / name
        try:
            channels = readers[path.suffix](path)
        except (ImportError, OSError, KeyError, ValueError) as err:
            images.skipped.append(f"{name}: {err}")
            continue
        for channel, data in channels.items():
            if np.ptp(data[np.isfinite(data)]) > 0:
                images.pfm[(sample, channel)] = data
        amplitude = next((d for c, d in channels.items() if "Amplitude" in c), None)
        if amplitude is not None:
            images.sources[f"pfm.{path.stem}.amplitude"] = amplitude
    others: list[tuple[str, str, Callable[[Path], np.ndarray]]] = [
        ("stem.survey_dm3", "DMReader_Image_SI-Survey.dm3", _dm3),
        ("stem.haadf_emd", "EMDReader_Image_FEI.emd", _emd),
        ("stm.au_mica_current", "Au_mica_2023_Y_A_diPAMY_20230512_058.sxm", _sxm_current),
    ]
    for key, name, read in others:
        try:
            images.sources[key] = read(MICROSCOPY / name)
        except (ImportError, OSError, KeyError, ValueError, IndexError) as err:
            images.skipped.append(f"{name}: {err}")


def _dm3(path: Path) -> np.ndarray:
    from rsciio import digitalmicrograph

    return _rsciio_image(digitalmicrograph.file_reader, path)


def _emd(path: Path) -> np.ndarray:
    from rsciio import emd

    return _rsciio_image(emd.file_reader, path)


def load_real_images() -> RealImages:
    """Every real source this machine has (see the module docstring)."""
    images = RealImages()
    for what, loader in (("scikit-image", _skimage_sources), ("SPIEPy", _spiepy_sources)):
        try:
            images.sources.update(loader())
        except ImportError as err:
            images.skipped.append(f"{what}: {err}")
    _instrument_sources(images)
    for key, data in list(images.sources.items()):
        finite = np.isfinite(data)
        if not finite.any() or np.ptp(data[finite]) == 0:
            images.skipped.append(f"{key}: constant image")
            del images.sources[key]
    return images
