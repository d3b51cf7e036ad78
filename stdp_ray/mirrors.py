"""Node-private local copies of remote directories, kept in step with the store.

A command works on a mirror of a remote run directory: every committed object
is pulled into a fresh local directory when the command starts
(:func:`new_mirror`), and each write the package makes in it is pushed through
the :class:`Mirror` it was made with (:meth:`Mirror.file_written`,
:meth:`Mirror.directory_written`, :meth:`Mirror.path_removed`): each completed
file is uploaded as one object (one PUT: there complete or not at all) and
each deletion is propagated. Which mirror a write belongs to is never looked
up: the writer is given it, inside the :class:`~stdp_ray.location.Location`
it writes to. No disk is shared between nodes.

Directory artifacts (a network, a checkpoint, a snapshot: whatever
:func:`stdp_ray.atomic.atomic_directory` writes) are uploaded as
``PENDING`` marker, files, ``COMMITTED`` marker, ``PENDING`` removed
(:data:`PENDING_MARKER`, :data:`COMMIT_MARKER`). A prefix holding the pending
marker and no commit marker is an interrupted upload: pulls ignore it and the
next writer's sweep removes it (:meth:`Mirror.sweep_incomplete`).

Names of the remote layout: every name starting with ``.`` is private to this
module and the lock (temporaries, markers, the lease, stop requests); pulls
never copy such objects, and local files of such names are never uploaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .leases import LOCK_FILE, Lease, LeaseLostError, acquire_lease
from .paths import cache_dir
from .stalls import StoreStalled, each
from .uris import TRANSFER_THREADS, Remote, cause

logger = logging.getLogger(__name__)

__all__ = ["Mirror", "new_mirror", "mirrors_dir", "pull", "COMMIT_MARKER", "PENDING_MARKER",
           "SIGNAL_POLL_S"]

#: Written last into a directory artifact's prefix: the artifact is complete.
COMMIT_MARKER = ".stdp_ray-committed"
#: Written first into a directory artifact's prefix, removed last: an upload in progress.
PENDING_MARKER = ".stdp_ray-pending"
#: Seconds between checks of the store for a stop request (training checks every sample).
SIGNAL_POLL_S = 1.0


class Mirror:
    """A node-private local copy of a remote directory whose writes are pushed to it.

    Every method taking a path does nothing for a path outside :attr:`local`
    or a private (dot-named) one.

    Attributes
    ----------
    local : Path
        The local directory standing for the remote one (it may not exist
        yet: a new remote directory is created by the first write).
    remote : Remote
    scratch : Path
        The private directory holding :attr:`local`, removed when done.
    leases : dict of str to Lease
        The leases this process holds below ``remote``, by relative path ("" =
        ``remote`` itself).
    """

    def __init__(self, local: Path, remote: Remote, scratch: Path):
        self.local = Path(os.path.abspath(local))
        self.remote = remote
        self.scratch = scratch
        self.leases: dict[str, Lease] = {}
        self.signal_checked: dict[str, tuple[float, bool]] = {}

    def relative(self, path: str | os.PathLike) -> str | None:
        """``path`` relative to the mirror ("" for its root), or None outside it."""
        text = os.path.abspath(path)
        root = str(self.local)
        if text == root:
            return ""
        if text.startswith(root + os.sep):
            return Path(text[len(root) + 1:]).as_posix()
        return None

    def check_leases(self) -> None:
        """Raise LeaseLostError if a lease this process holds here was taken over, or
        StoreStalled if its renewal found the store stalled."""
        for lease in self.leases.values():
            if lease.stalled is not None:
                raise lease.stalled
            if lease.lost is not None:
                raise LeaseLostError(lease.lost)

    def _pushed(self, path: str | os.PathLike) -> str | None:
        """The relative name of a written ``path`` to push (leases checked), or None."""
        rel = self.relative(path)
        if not rel or _hidden(rel):
            return None
        self.check_leases()
        return rel

    # ----------------------------------------------------------------------
    # Pushing
    # ----------------------------------------------------------------------
    def file_written(self, path: str | os.PathLike) -> None:
        """Upload a file that was just written (completely) in the mirror."""
        rel = self._pushed(path)
        if rel is not None:
            self.remote.put(self.remote.key(rel), Path(path).read_bytes())

    def directory_written(self, directory: str | os.PathLike) -> None:
        """Upload a directory artifact that was just written in the mirror, marker last.

        What the store held under its name before is removed first, inside the
        window the pending marker flags: a reader sees the old artifact, or
        nothing, or the new one.
        """
        rel = self._pushed(directory)
        if rel is None:
            return
        remote, base = self.remote, self.remote.key(rel)
        remote.put(f"{base}/{PENDING_MARKER}", b"")
        remote.delete(f"{base}/{COMMIT_MARKER}")
        for name in remote.child(rel).listing():
            if name != PENDING_MARKER:
                remote.delete(f"{base}/{name}")
        directory = Path(directory)
        names = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                       if p.is_file() and not _hidden(p.relative_to(directory).as_posix()))
        for name in names:
            remote.put(f"{base}/{name}", (directory / name).read_bytes())
        remote.put(f"{base}/{COMMIT_MARKER}",
                   (json.dumps({"files": names}, indent=1) + "\n").encode())
        remote.delete(f"{base}/{PENDING_MARKER}")

    def path_removed(self, path: str | os.PathLike, was_directory: bool) -> None:
        """Propagate the removal of a file or directory of the mirror to the store.

        A directory's commit marker goes first (a reader never sees a committed
        artifact with files missing); leases below it are left to their holders.
        """
        rel = self._pushed(path)
        if rel is None:
            return
        remote = self.remote
        if not was_directory:
            remote.delete(remote.key(rel))
            return
        names = [n for n in remote.child(rel).listing() if n.rpartition("/")[2] != LOCK_FILE]
        markers = [n for n in names if n.rpartition("/")[2] == COMMIT_MARKER]
        for name in markers:
            remote.delete(remote.key(f"{rel}/{name}"))
        remote.delete_all([remote.key(f"{rel}/{n}") for n in names if n not in markers])

    def sweep_incomplete(self, path: str | os.PathLike, *, recursive: bool = True) -> list[str]:
        """Remove the interrupted directory uploads below ``path`` from the store.

        Call while holding the directory's lease. ``recursive=False`` looks only
        at ``path``'s own entries (an ensemble or sweep root, whose members have
        their own leases). Returns the URIs removed.
        """
        rel = self.relative(path)
        if rel is None:
            return []
        remote = self.remote.child(rel)
        listing = remote.listing()
        incomplete = _incomplete(listing)
        removed = []
        for directory in sorted(incomplete):
            if not directory or (not recursive and "/" in directory):
                continue
            remote.delete_all([remote.key(n) for n in listing if n.startswith(directory + "/")])
            removed.append(remote.child(directory).uri)
        for name in listing:  # pending markers of uploads that committed before they ended
            parent, _, leaf = name.rpartition("/")
            if leaf == PENDING_MARKER and parent not in incomplete \
                    and (recursive or "/" not in parent):
                remote.delete(remote.key(name))
        if removed:
            logger.warning("%s: removed %d interrupted upload(s): %s", remote.uri, len(removed),
                           ", ".join(removed))
        return removed

    def refresh(self, path: str | os.PathLike) -> None:
        """Make the subtree at ``path`` equal to the store's committed content there.

        What another node wrote (a training actor's checkpoints and statistics)
        is pulled; local files the store no longer holds are removed. Private
        (dot-named) local files stay.
        """
        rel = self.relative(path)
        if rel is None:
            return
        local = Path(path)
        kept = pull(self.remote.child(rel), local)
        if not local.is_dir():
            return
        for file in sorted(local.rglob("*"), reverse=True):
            name = file.relative_to(local).as_posix()
            if _hidden(name):
                continue
            if file.is_file() and name not in kept:
                file.unlink()
            elif file.is_dir() and not any(file.iterdir()):
                file.rmdir()

    # ----------------------------------------------------------------------
    # Leases and signals
    # ----------------------------------------------------------------------
    @contextlib.contextmanager
    def lease(self, path: str | os.PathLike) -> Iterator[None]:
        """Hold the lease of the directory ``path`` while the block runs.

        The directory a command opened for writing already holds its lease; a
        directory below it (an ensemble's member, a curve) takes its own.
        """
        rel = self.relative(path)
        if rel is None or rel in self.leases:
            yield
            return
        lease = acquire_lease(self.remote.child(rel))
        self.leases[rel] = lease
        try:
            yield
        finally:
            self.leases.pop(rel, None)
            lease.release()

    def lease_owner(self, path: str | os.PathLike) -> str | None:
        """The owner line of the lease this process holds on the directory ``path``."""
        lease = self.leases.get(self.relative(path))
        return lease.owner if lease is not None else None

    def release(self) -> None:
        """Release every lease held here and remove the local copy."""
        for lease in list(self.leases.values()):
            lease.release()
        self.leases.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def put_signal(self, path: str | os.PathLike, text: str) -> None:
        """Write the private object of ``path`` on the store."""
        rel = self.relative(path)
        if rel is not None:
            self.remote.put(self.remote.key(rel), text.encode())

    def clear_signal(self, path: str | os.PathLike) -> None:
        """Delete the private object of ``path`` on the store."""
        rel = self.relative(path)
        if rel is not None:
            self.remote.delete(self.remote.key(rel))

    def signal_present(self, path: str | os.PathLike) -> bool:
        """Whether the store holds the object of ``path`` (asked at most every
        :data:`SIGNAL_POLL_S` seconds)."""
        rel = self.relative(path)
        if rel is None:
            return False
        now = time.monotonic()
        checked, present = self.signal_checked.get(rel, (float("-inf"), False))
        if now - checked >= SIGNAL_POLL_S:
            try:
                present = self.remote.is_file(self.remote.key(rel))
            except StoreStalled:
                raise
            except OSError as exc:
                logger.warning("%s: cannot check for a stop request (%s)",
                               self.remote.child(rel).uri, cause(exc, self.remote.uri))
                present = False
            self.signal_checked[rel] = (now, present)
        return present


# --------------------------------------------------------------------------
# Making mirrors
# --------------------------------------------------------------------------
def mirrors_dir() -> Path:
    """The node-local directory of mirrors (``$STDP_RAY_CACHE/mirrors``, else
    ``~/.cache/stdp_ray/mirrors``)."""
    return cache_dir() / "mirrors"


def new_mirror(kind: str, remote: Remote) -> Mirror:
    """An empty mirror of ``remote`` in a fresh private directory of this node.

    The directory is named ``<kind>-<hash of uri>-<host>-<pid>-<random>``, so
    that a later process of the same machine can remove what a killed one
    left (a cache in a home directory shared between machines is left to
    each machine).
    """
    base = mirrors_dir()
    base.mkdir(parents=True, exist_ok=True)
    _sweep_dead_mirrors(base)
    digest = hashlib.sha256(remote.uri.encode()).hexdigest()[:12]
    scratch = tempfile.mkdtemp(prefix=f"{kind}-{digest}-{_host()}-{os.getpid()}-", dir=base)
    scratch = Path(scratch).resolve()
    return Mirror(scratch / "dir", remote, scratch)


def _host() -> str:
    """This machine's name as it appears in mirror names."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _sweep_dead_mirrors(base: Path) -> None:
    """Remove mirrors of processes of this machine that no longer run (a killed command)."""
    for entry in base.iterdir():
        m = re.fullmatch(r"[a-z]+-[0-9a-f]{12}-(.+)-(\d+)-[a-z0-9_]+", entry.name)
        if not m or m.group(1) != _host() or int(m.group(2)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


# --------------------------------------------------------------------------
# Listing and pulling
# --------------------------------------------------------------------------
def _hidden(rel: str) -> bool:
    """Whether a relative path is private (temporaries, markers, the lock): never copied."""
    return any(part.startswith(".") for part in rel.split("/") if part)


def _incomplete(names) -> set[str]:
    """Directories holding a pending marker and no commit marker: interrupted uploads."""
    pending, committed = set(), set()
    for name in names:
        parent, _, leaf = name.rpartition("/")
        if leaf == PENDING_MARKER:
            pending.add(parent)
        elif leaf == COMMIT_MARKER:
            committed.add(parent)
    return pending - committed


def _committed(listing: dict[str, int]) -> dict[str, int]:
    """The objects of ``listing`` a reader may use: not private, not in an interrupted upload.

    A name that would not stay inside the mirror (``/etc/passwd`` after the
    prefix, ``a//b``; ``..`` is private by its dot) is skipped with a warning:
    a bucket is data from whoever can write it.
    """
    broken = _incomplete(listing)
    out = {}
    for name, size in listing.items():
        if _hidden(name):
            continue
        if any(part == "" for part in name.split("/")):
            logger.warning("object %r ignored: its name would leave the run directory", name)
            continue
        if any(name == d or name.startswith(d + "/") for d in broken if d) or ("" in broken):
            continue
        out[name] = size
    return out


def pull(remote: Remote, local: Path) -> set[str]:
    """Download every committed object below ``remote`` into ``local``; returns their names."""
    try:
        files = _committed(remote.listing())
    except StoreStalled:
        raise
    except OSError as exc:
        raise OSError(f"{remote.uri}: cannot list ({cause(exc, remote.uri)})") from None

    def fetch(name: str) -> None:
        target = local / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = remote.read(remote.key(name), size=files[name])
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    if files:
        each(fetch, sorted(files), TRANSFER_THREADS)
        logger.info("%s: pulled %d file(s), %.1f MB", remote.uri, len(files),
                    sum(files.values()) / 1e6)
    return set(files)
