"""Where a run directory lives: a local path and, for one on an object store, its mirror.

A :class:`Location` is the value the package passes down for a run directory
(or an ensemble or sweep root, or any path below one), as Ray Train passes
``Checkpoint(path, filesystem)``. The contract:

- A Location **is** a local path (a :class:`pathlib.Path`), plus the
  :class:`~stdp_ray.mirrors.Mirror` its writes go through (``mirror``; None
  for a local directory). Reading code uses it as any path (``exists()``,
  ``glob()``, ``open()``, ``pd.read_parquet``), unchanged; for a directory
  on an object store the path lies in the node-private mirror, pulled when
  the command opened it. (A Path rather than a record holding one: so every
  reader takes it as it is, and the paths pathlib derives keep the store.)
- Every path derived from a Location (``location / "network"``,
  ``.parent``, ``.glob()``, ``.iterdir()``) is a Location with the same
  mirror: the store travels with the path, and nothing looks it up again.
- The writers of the package (:mod:`stdp_ray.atomic`, :mod:`stdp_ray.locks`,
  the signals and :func:`sweep_incomplete` here) push a write to the store
  of the Location they are given, and only to that one. A plain
  :class:`~pathlib.Path` (or ``str``), or a Location without a mirror, is a
  local directory: no remote work at all, byte for byte what a local run
  always wrote. Converting a Location with ``Path(...)``, ``str(...)`` or
  :attr:`Location.path` drops its store: do that only to read; a function
  that takes a path and writes below it converts with :func:`as_path`, which
  keeps a Location.
- A Location never leaves its process: pickled it becomes a plain path. For
  another node, pass :attr:`Location.portable` (its URI on the store) and
  open it there (:func:`worker_location`).

:func:`open_location` gives a command's run directory (taking its lease for a
writer), :func:`read_location` a copy to read, :func:`worker_location` a
training actor's mirror of its driver's directory. Each registers the
directory it gives as a root (:func:`stdp_ray.confine.add_root`): no link below
it is followed.

Messages show mirror paths as their URIs (:func:`display`,
:class:`DisplayFilter`). That needs a process-wide table of local roots and
the URIs to show for them: it is presentation only, never consulted by a
writer.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import ClassVar, Iterator

from . import confine
from .leases import acquire_lease
from .mirrors import Mirror, new_mirror, pull
from .uris import Remote, parse_location

__all__ = ["Location", "located", "as_path", "as_location", "location_mirror", "open_location",
           "read_location", "worker_location", "refresh", "sweep_incomplete", "put_signal",
           "clear_signal", "signal_present", "display", "display_name", "DisplayFilter"]


class Location(type(Path())):
    """A local path and the mirror (or None) its writes are pushed through.

    ``Location(path)`` is a local directory (no mirror); :func:`located` gives
    the Location of a mirror. The mirror is an attribute of the Location's
    class (each mirror has its own subclass), so that every path pathlib
    derives from one (``/``, ``parent``, ``glob()``, ``iterdir()``,
    ``resolve()``), which keeps the class, keeps the mirror, on every Python
    version the package supports.

    Attributes
    ----------
    mirror : Mirror or None
        The mirror of a remote directory holding this path; None for a local
        directory.
    """

    __slots__ = ()
    mirror: ClassVar[Mirror | None] = None

    def __reduce__(self):
        return Path, (str(self),)

    @property
    def path(self) -> Path:
        """The local path alone, without the store (for reading)."""
        return Path(self)

    @property
    def remote(self) -> Remote | None:
        """The directory on the store this path stands for, or None (local, or outside)."""
        if self.mirror is None:
            return None
        rel = self.mirror.relative(self)
        return None if rel is None else self.mirror.remote.child(rel)

    @property
    def portable(self) -> str:
        """What another node can open for this path: its URI on the store, else the path."""
        remote = self.remote
        return remote.uri if remote is not None else str(self)


def located(path: str | os.PathLike, mirror: Mirror) -> Location:
    """The Location of ``path`` whose writes are pushed through ``mirror``."""
    cls = type("Location", (Location,), {"__slots__": (), "mirror": mirror,
                                         "__module__": __name__})
    return cls(path)


def as_path(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path`: a Location (any Path) is kept as it is.

    What a function taking a path writes through uses, so that a Location
    keeps its store (``Path(location)`` would drop it).
    """
    return path if isinstance(path, Path) else Path(path)


def as_location(path: str | os.PathLike) -> Location:
    """``path`` itself if it is a Location, else a local Location (no mirror) of it."""
    return path if isinstance(path, Location) else Location(path)


def location_mirror(path: str | os.PathLike) -> Mirror | None:
    """The mirror ``path`` was given with: a Location's; None for any other path."""
    return path.mirror if isinstance(path, Location) else None


# --------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------
@contextlib.contextmanager
def open_location(text: str | os.PathLike, *, write: bool) -> Iterator[Location]:
    """The directory ``text`` names, as a Location, while the block runs.

    A local path (or ``file://`` URI) is yielded as a Location without a
    mirror. A remote directory is checked
    (:func:`~stdp_ray.uris.parse_location`), then, for a writer, its lease is
    taken (another holder: DirectoryBusyError) and renewed until the block
    ends; its committed content is pulled into a fresh node-private mirror,
    whose writes through the yielded Location are pushed to the store. The
    mirror is removed, and the lease released, at the end.

    Parameters
    ----------
    text : str or path
    write : bool
        The command writes the directory: take its lease first.
    """
    target = parse_location(text)
    if isinstance(target, Path):
        confine.add_root(target)
        yield Location(target)
        return
    mirror = new_mirror("run", target)
    try:
        if write:
            mirror.leases[""] = acquire_lease(target)
        pull(target, mirror.local)
        _show(mirror.local, target.uri)
        confine.add_root(mirror.local)
        yield located(mirror.local, mirror)
    finally:
        mirror.release()


def read_location(text: str | os.PathLike) -> Location:
    """A local copy of the directory ``text`` names, for reading (no lease, nothing pushed).

    Local directories are returned as they are; a remote one is pulled into a
    private directory that lives until this process ends.
    """
    target = parse_location(text)
    if isinstance(target, Path):
        confine.add_root(target)
        return Location(target)
    return Location(_pulled_for_this_process("read", target).local)


def worker_location(uri: str) -> Location:
    """The remote directory ``uri`` pulled into a mirror of this node, its writes pushed.

    For a process that works on part of a run for a driver elsewhere (the
    training actor, under its driver's lease: none is taken here): the mirror
    lives until the process ends. A path (not a URI) is a local Location.
    """
    target = parse_location(uri)
    if isinstance(target, Path):
        confine.add_root(target)
        return Location(target)
    mirror = _pulled_for_this_process("worker", target)
    return located(mirror.local, mirror)


def _pulled_for_this_process(kind: str, target: Remote) -> Mirror:
    """A new mirror of ``target``, pulled, shown as its URI, removed when the process ends."""
    mirror = new_mirror(kind, target)
    atexit.register(shutil.rmtree, mirror.scratch, True)
    pull(target, mirror.local)
    _show(mirror.local, target.uri)
    confine.add_root(mirror.local)
    return mirror


# --------------------------------------------------------------------------
# Keeping a Location in step with its store
# --------------------------------------------------------------------------
def refresh(location: str | os.PathLike) -> None:
    """Make ``location``'s subtree equal to its store's committed content (see
    :meth:`~stdp_ray.mirrors.Mirror.refresh`); a local path: nothing to do."""
    mirror = location_mirror(location)
    if mirror is not None:
        mirror.refresh(location)


def sweep_incomplete(location: str | os.PathLike, *, recursive: bool = True) -> list[str]:
    """Remove the interrupted directory uploads below ``location`` from its store.

    Call while holding the directory's lock. Returns the URIs removed (none
    for a local path; see :meth:`~stdp_ray.mirrors.Mirror.sweep_incomplete`).
    """
    mirror = location_mirror(location)
    return [] if mirror is None else mirror.sweep_incomplete(location, recursive=recursive)


def put_signal(path: str | os.PathLike, text: str = "stop\n") -> None:
    """Write the private file ``path`` locally and, for a Location with a mirror, on the store.

    No link below a run directory's root is followed (:func:`stdp_ray.confine.check`).
    """
    confine.make_dirs(Path(confine.check(path)).parent)
    Path(path).write_text(text)
    mirror = location_mirror(path)
    if mirror is not None:
        mirror.put_signal(path, text)


def clear_signal(path: str | os.PathLike) -> None:
    """Remove the private file ``path`` locally and, for a Location with a mirror, on the store.

    No link below a run directory's root is followed (:func:`stdp_ray.confine.check`).
    """
    Path(confine.check(path)).unlink(missing_ok=True)
    mirror = location_mirror(path)
    if mirror is not None:
        mirror.clear_signal(path)


def signal_present(path: str | os.PathLike) -> bool:
    """Whether the private file ``path`` exists (with a mirror: also on the store, asked at
    most every :data:`~stdp_ray.mirrors.SIGNAL_POLL_S` seconds)."""
    if Path(path).exists():
        return True
    mirror = location_mirror(path)
    return mirror is not None and mirror.signal_present(path)


# --------------------------------------------------------------------------
# Display (presentation only)
# --------------------------------------------------------------------------
#: Every mirror root this process made, with the URI to show for it in messages.
_SHOWN: dict[str, str] = {}
_SHOWN_LOCK = threading.Lock()


def _show(local: Path, uri: str) -> None:
    with _SHOWN_LOCK:
        _SHOWN[str(Path(os.path.abspath(local)))] = uri


def display(text: object) -> str:
    """``text`` with every mirror path replaced by its URI (for messages to the user)."""
    out = str(text)
    for local, uri in sorted(_SHOWN.items(), key=lambda kv: -len(kv[0])):
        out = out.replace(local, uri)
    return out


def display_name(path: str | os.PathLike) -> str:
    """The last part of a directory as the user named it (a mirror's: its URI's last part)."""
    return display(Path(os.path.abspath(path)).resolve()).rstrip("/").rpartition("/")[2]


class DisplayFilter(logging.Filter):
    """A logging filter that shows every mirror path of a message as its URI (:func:`display`).

    It reads the process-wide table of mirror roots, which only changes what
    messages show.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _SHOWN:
            record.msg, record.args = display(record.getMessage()), None
        return True
