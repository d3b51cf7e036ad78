"""Who may write a directory: the lock file's name, its owner line, leases on object stores.

A local directory is held by an ``flock`` on its :data:`LOCK_FILE`
(:mod:`stdp_ray.locks`). Object stores have no ``flock``: a remote directory
is held by a lease (:func:`acquire_lease`), an object of the same name
(``<prefix>/.lock``) naming its owner (pid, host, a random token:
:func:`owner_line`, the line the local lock file holds too) and an expiry,
renewed by one background thread while the command runs and deleted at its
end. A second command refuses while it is unexpired. Without compare-and-swap
(pyarrow offers none) it is taken by write, wait :data:`LEASE_SETTLE_S`, read
back: two commands starting within that window of each other are told apart,
a process stalled for longer than that between its read and its write is not
(see SECURITY.md).

A training actor on another node checks its driver's lease before it writes
(:func:`check_remote_lease`, :class:`LeaseLostError` when the driver is gone).

A renewal that finds the store stalled (:class:`~stdp_ray.stalls.StoreStalled`:
no answer within ``$STDP_RAY_STORE_TIMEOUT_S``, 30 s by default, half the
lease time) records it; the command's next write, and its loops waiting on Ray
(:func:`check_renewals`), raise it: a stalled store fails the command within
the lease time (exit status 3).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import secrets
import socket
import threading
import time

from .errors import BusyError
from .reading import ArtifactError, parse_json
from .stalls import StoreStalled
from .uris import Remote, StorageError, cause, parse_location

logger = logging.getLogger(__name__)

__all__ = ["LOCK_FILE", "DirectoryBusyError", "LeaseLostError", "Lease", "owner_line",
           "acquire_lease", "check_remote_lease", "check_renewals", "LEASE_SECONDS",
           "LEASE_SETTLE_S"]

#: Held (``flock``) by the one process working on a local directory; on a store, the lease.
LOCK_FILE = ".lock"
#: Seconds a lease lasts unless renewed (a crashed command blocks its directory this long).
LEASE_SECONDS = 60.0
#: Seconds between renewals of a held lease.
LEASE_RENEW_S = LEASE_SECONDS / 4
#: Seconds between writing a lease and reading it back to confirm it.
LEASE_SETTLE_S = 1.0


class DirectoryBusyError(BusyError):
    """Another process holds the directory's lock (or its lease)."""


class LeaseLostError(BusyError):
    """The driver that started a worker no longer holds its directory's lock."""


def owner_line(token: str | None = None) -> str:
    """``pid <pid> on <host> lease <token>``: who holds a lock or lease (a new token if None)."""
    token = secrets.token_hex(8) if token is None else token
    return f"pid {os.getpid()} on {socket.gethostname()} lease {token}"


class Lease:
    """A lease held by this process on a remote directory (renewed by a background thread)."""

    def __init__(self, remote: Remote, owner: str):
        self.remote, self.owner = remote, owner
        self.key = remote.key(LOCK_FILE)
        self.lost: str | None = None
        #: Set by a renewal that found the store stalled.
        self.stalled: StoreStalled | None = None
        self.released = False
        # A renewal never writes the lease back after its release has deleted it.
        self.lock = threading.Lock()

    def record(self) -> bytes:
        expires = time.time() + LEASE_SECONDS
        return (json.dumps({"owner": self.owner, "pid": os.getpid(),
                            "host": socket.gethostname(), "expires": expires,
                            "expires_utc": _utc(expires)}, indent=1) + "\n").encode()

    def renew(self) -> None:
        """Extend the lease, or mark it lost if another process holds it now."""
        with self.lock:
            if self.released or self.lost is not None:
                return
            current = _read_lease(self.remote)
            if current is None or current.get("owner") != self.owner:
                holder = current.get("owner") if current else "nobody"
                self.lost = (f"{self.remote.uri}: lease lost: now held by {holder!r}, not by "
                             f"this process ({self.owner!r})")
                logger.error("%s", self.lost)
                return
            self.remote.put(self.key, self.record())

    def release(self) -> None:
        """Delete the lease object if it is still this process's (once).

        A renewal still waiting for the store is not waited for: the lease is
        then left to expire.
        """
        _RENEWER.drop(self)
        if not self.lock.acquire(timeout=1.0):
            self.released = True
            logger.warning("%s: lease not released (a renewal is waiting for the store); it "
                           "expires by itself in %.0f s", self.remote.uri, LEASE_SECONDS)
            return
        try:
            if self.released:
                return
            self.released = True
            try:
                current = _read_lease(self.remote)
                if current is not None and current.get("owner") == self.owner:
                    self.remote.delete(self.key)
            except OSError as exc:
                logger.warning("%s: lease not released (%s); it expires by itself in %.0f s",
                               self.remote.uri, cause(exc, self.remote.uri), LEASE_SECONDS)
        finally:
            self.lock.release()



def _utc(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="seconds")


def _read_lease(remote: Remote) -> dict | None:
    """The lease record of ``remote`` (None: no lease object; {} if unreadable)."""
    try:
        raw = remote.read(remote.key(LOCK_FILE), 64 * 1024)
    except FileNotFoundError:
        return None
    try:
        record = parse_json(raw, remote.key(LOCK_FILE))
    except ArtifactError:  # damaged, not UTF-8, nested too deeply, ...
        return {}
    return record if isinstance(record, dict) else {}


def _expired(record: dict) -> bool:
    try:
        return float(record.get("expires", 0)) < time.time()
    except (TypeError, ValueError):
        return True


def acquire_lease(remote: Remote) -> Lease:
    """Take the lease of ``remote`` (renewed until released) or refuse.

    Raises
    ------
    DirectoryBusyError
        If another process holds an unexpired lease, naming it and its expiry.
    StorageError
        If the store refuses the write (credentials without write permission).
    """
    lease = Lease(remote, owner_line())

    def busy(record: dict) -> DirectoryBusyError:
        return DirectoryBusyError(
            f"{remote.uri}: in use by another stdp-ray process ({record.get('owner', 'unknown')},"
            f" lease until {record.get('expires_utc', '?')}); wait for it to finish or stop it")

    try:
        current = _read_lease(remote)
        if current and not _expired(current):
            raise busy(current)
        if current:
            logger.warning("%s: taking over an expired lease (%s, expired %s)", remote.uri,
                           current.get("owner"), current.get("expires_utc"))
        remote.put(lease.key, lease.record())
        time.sleep(LEASE_SETTLE_S)
        confirmed = _read_lease(remote)
    except StoreStalled:
        raise
    except OSError as exc:
        raise StorageError(f"{remote.uri}: cannot take the lease ({cause(exc, remote.uri)})") \
            from None
    if not confirmed or confirmed.get("owner") != lease.owner:
        raise busy(confirmed or {})
    _RENEWER.add(lease)
    return lease


def check_remote_lease(uri: str, owner: str) -> None:
    """Raise LeaseLostError unless ``uri``'s lease is held, unexpired, by ``owner``."""
    remote = parse_location(uri)
    if not isinstance(remote, Remote):
        raise ValueError(f"{uri}: not a remote directory")
    record = _read_lease(remote)
    if not record:
        raise LeaseLostError(f"{uri}: holds no lease: the driver ({owner!r}) is gone")
    if record.get("owner") != owner:
        raise LeaseLostError(f"{uri}: now held by {record.get('owner')!r}, not by this "
                             f"worker's driver ({owner!r})")
    if _expired(record):
        raise LeaseLostError(f"{uri}: the lease of this worker's driver ({owner!r}) expired "
                             f"at {record.get('expires_utc')}: the driver is gone")


def check_renewals() -> None:
    """Raise :class:`~stdp_ray.stalls.StoreStalled` if a renewal of a lease this process
    holds found its store stalled."""
    for lease in _RENEWER.held():
        if lease.stalled is not None:
            raise lease.stalled


class _Renewer:
    """One daemon thread renewing every lease this process holds."""

    def __init__(self):
        self.leases: list[Lease] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()

    def add(self, lease: Lease) -> None:
        with self.lock:
            self.leases.append(lease)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="stdp-ray-lease",
                                               daemon=True)
                self.thread.start()

    def held(self) -> list[Lease]:
        with self.lock:
            return list(self.leases)

    def drop(self, lease: Lease) -> None:
        with self.lock:
            if lease in self.leases:
                self.leases.remove(lease)

    def _run(self) -> None:
        while True:
            self.wake.wait(LEASE_RENEW_S)
            with self.lock:
                leases = list(self.leases)
            for lease in leases:
                try:
                    lease.renew()
                except StoreStalled as exc:
                    # The command fails with it (check_renewals, Mirror.check_leases).
                    lease.stalled = exc
                    logger.debug("%s: lease not renewed: %s", lease.remote.uri, exc)
                except OSError as exc:
                    logger.warning("%s: lease not renewed (%s); retrying", lease.remote.uri,
                                   cause(exc, lease.remote.uri))


_RENEWER = _Renewer()
