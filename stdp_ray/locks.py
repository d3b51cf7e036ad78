"""The directory lock: one writer per run, ensemble or sweep directory, on any node.

A local directory is held by an ``flock`` on its :data:`~stdp_ray.leases.LOCK_FILE`;
a directory given as a :class:`~stdp_ray.location.Location` on an object store
is held by its lease there too (:class:`~stdp_ray.leases.Lease`, through the
Location's mirror). :func:`lock_owner` says who holds it (pid, host, a random
token); a training actor compares that line before it writes
(:func:`check_lease`), on the local lock file or on the store's lease object.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from .leases import LOCK_FILE, DirectoryBusyError, LeaseLostError, check_remote_lease, owner_line
from .location import location_mirror
from .reading import ArtifactError
from .uris import is_remote

__all__ = ["directory_lock", "lock_owner", "check_lease", "writer_active"]


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike, *, shared: bool = False):
    """Hold a lock on ``directory`` (created if missing) while the block runs.

    The lock is an ``flock`` on ``directory/.lock``, which holds the owner's
    pid, host and a random lease token (:func:`lock_owner`) for the error
    message and for the lease that training actors check before they write
    (:func:`check_lease`). The kernel drops it when the process ends, however
    it ends, so there are no stale locks. Locks are per open file: taking the
    same directory's lock twice, even in one process, fails. ``flock`` may not
    be honoured across machines on some network file systems: run one driver
    per run directory there.

    ``.lock`` is opened with ``O_NOFOLLOW``: a run directory received from
    someone else whose ``.lock`` is a symbolic link is refused, never followed
    (its target is not truncated).

    Given a Location on an object store (:mod:`stdp_ray.location`) the lock
    is also the directory's lease on the store (taken here unless the command
    took it when it opened the directory; none for a shared lock, which reads
    the pulled copy).

    Parameters
    ----------
    directory : path
    shared : bool
        A shared (reader's) lock: any number of readers at once, none while a
        writer holds the exclusive lock. A reader neither creates the directory
        nor writes the file.

    Raises
    ------
    DirectoryBusyError
        If another process (or another ``directory_lock``) holds it.
    ArtifactError
        If ``.lock`` is a symbolic link or not a regular file.
    """
    directory = directory if isinstance(directory, Path) else Path(directory)  # a Location stays
    mirror = location_mirror(directory)
    lease = mirror.lease(directory) if mirror is not None and not shared \
        else contextlib.nullcontext()
    with lease, _local_lock(directory, shared=shared) as locked:
        yield locked


@contextlib.contextmanager
def _local_lock(directory: Path, *, shared: bool):
    """The ``flock`` of :func:`directory_lock`."""
    import fcntl

    if not shared:
        directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    flags = os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactError(f"{path}: is a symbolic link; refusing to follow it (remove "
                                "it: stdp-ray creates a plain file there)") from None
        if shared and exc.errno == errno.ENOENT:
            yield directory  # nobody has ever written here
            return
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ArtifactError(f"{path}: is not a regular file; refusing to use it as the lock")
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            if owner.startswith(owner_line("")):
                raise DirectoryBusyError(f"{directory}: already locked by this process (a "
                                         "nested lock of the same directory)") from None
            raise DirectoryBusyError(
                f"{directory}: in use by another stdp-ray process ({owner}); wait for it to "
                "finish or stop it") from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{owner_line()}\n".encode(), 0)
        yield directory
    finally:
        os.close(fd)  # releases the flock


def writer_active(directory: str | os.PathLike, remote=None) -> bool:
    """Whether a writer (``train``, ``observe``, ``test``...) holds ``directory`` now.

    A local directory: its lock is probed with a shared ``flock`` (taken and
    released at once; nothing written). On an object store (``remote``, a
    :class:`~stdp_ray.uris.Remote`, or the mirror of a Location): whether an
    unexpired lease object is there. For what readers say about the run; never
    a reason to write.
    """
    import fcntl

    from .leases import _expired, _read_lease

    mirror = location_mirror(directory)
    if remote is None and mirror is not None:
        remote = mirror.remote.child(mirror.relative(directory) or "")
    if remote is not None:
        try:
            record = _read_lease(remote)
        except OSError:
            return False
        return record is not None and not _expired(record)
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases a shared lock taken here
    return False


def lock_owner(directory: str | os.PathLike) -> str | None:
    """The owner line of ``directory/.lock`` (pid, host, lease token), or None without one.

    Given a Location on an object store: the owner line of the lease this
    process holds on it (what :func:`check_lease` compares, on any node).
    """
    mirror = location_mirror(directory)
    remote_owner = mirror.lease_owner(directory) if mirror is not None else None
    if remote_owner is not None:
        return remote_owner
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip() or None
    finally:
        os.close(fd)



def check_lease(directory: str | os.PathLike, owner: str) -> None:
    """Raise LeaseLostError unless ``directory``'s lock is still held by ``owner``.

    A training actor calls this before it writes: after its driver has died
    (the lock is free, or taken by a newer driver with another lease token) it
    must not write into a directory that is no longer its own. ``directory``
    may be the URI of a remote directory (:attr:`stdp_ray.location.Location.portable`):
    its lease object must then name ``owner`` and be unexpired.
    """
    import fcntl

    if is_remote(directory):
        check_remote_lease(directory, owner)
        return
    path = Path(directory) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise LeaseLostError(f"{path}: cannot be opened ({exc.strerror})") from None
    try:
        current = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if current != owner:
            raise LeaseLostError(f"{directory}: now held by {current or 'nobody'!r}, not by "
                                 f"this worker's driver ({owner!r})")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # held exclusively: by our driver, whose line is in the file
        fcntl.flock(fd, fcntl.LOCK_UN)
        raise LeaseLostError(f"{directory}: its lock is free: the driver ({owner!r}) is gone")
    finally:
        os.close(fd)
