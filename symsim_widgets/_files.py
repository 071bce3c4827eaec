"""The one home of atomic file writes.

Every file or folder the package writes for users (trees, sessions, bundles, dashboards,
checkpoints, training reports, the demo images) is written next to its destination and
renamed over it, so readers see the old version or the new one, never a half-written one,
and a failure leaves the destination as it was.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "copy_file_atomically",
    "replace_directory",
    "write_atomically",
    "write_text_atomically",
]


def _sibling(path: Path, tag: str) -> Path:
    """A hidden name beside ``path``, unique to this process and thread, that keeps its
    suffix (so writers that pick the format from the suffix, like matplotlib, still do)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.{tag}{path.suffix}")


def write_atomically(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file over ``path``.

    Parameters
    ----------
    path : the destination; its folder is created when missing.
    write : writes the whole file at the path it is given (``torch.save``,
        ``figure.savefig``, ``Path.write_bytes``...).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "hello.txt"
    >>> write_atomically(target, lambda tmp: tmp.write_text("hi")).read_text()
    'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_atomically`)."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def copy_file_atomically(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Copy ``source`` to ``path`` atomically (:func:`write_atomically`)."""
    return write_atomically(path, lambda tmp: shutil.copyfile(source, tmp))


def replace_directory(staging: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Move the finished folder ``staging`` to ``path``, replacing what is there.

    An existing ``path`` is first renamed aside and removed once ``staging`` is in place,
    so ``path`` is at all times either the old folder or the new one (it is missing only
    between the two renames). ``staging`` must be on the same file system, e.g. made with
    ``tempfile.mkdtemp(dir=path.parent)``.

    Raises
    ------
    OSError
        When a rename fails (for instance another process put a folder at ``path`` in
        between); ``staging`` is left for the caller to remove.
    """
    staging, path = Path(staging), Path(path)
    if path.exists():
        old = _sibling(path, f"old-{time.time_ns()}")
        os.replace(path, old)
        os.replace(staging, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, path)
    _fsync_directory(path.parent)
    return path


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
