"""Run directories on object storage: URIs, node-local mirrors, commit markers and leases.

A run directory (or an ensemble or sweep root) may be a URI: ``s3://bucket/prefix``,
``gs://bucket/prefix``, ``file:///abs/path`` or a plain path. Plain paths and
``file://`` URIs are local directories, used exactly as before (renames,
``flock``); nothing in this module touches them. This module owns everything
about the other kind:

- **URIs** (:func:`parse_location`): the scheme, bucket and prefix, checked once,
  before anything is read or written, with a one-line :class:`StorageError`
  naming the URI and the cause (unknown scheme, unreachable endpoint, missing
  bucket, missing or refused credentials). Endpoint, region and credentials
  come only from the standard environment variables and the machine's role
  (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` /
  ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
  ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, the EC2 instance profile; for GCS
  ``GOOGLE_APPLICATION_CREDENTIALS`` or the node's service account): a URI
  carrying options (``?endpoint_override=...``) or keys is refused.
- **Mirrors.** A command works on a node-private local copy of the remote
  directory (:func:`open_location`): every committed object is pulled into
  it when the command starts, and the package's writers push through it: the
  atomic writers of :mod:`stdp_ray.state` call :func:`file_written`,
  :func:`directory_written` and :func:`path_removed` after each local write,
  so each completed file is uploaded as one object (one PUT: there complete
  or not at all) and each deletion is propagated. A training actor pulls its
  own ``train/`` directory into a mirror of its node (:func:`worker_mirror`),
  also when Ray restarts it on another node; the driver pulls it back after
  training (:func:`refresh`). No disk is shared between nodes.
- **Directory artifacts** (a network, a checkpoint, a snapshot: whatever
  :func:`stdp_ray.state.atomic_directory` writes) are uploaded as
  ``PENDING`` marker, files, ``COMMITTED`` marker, ``PENDING`` removed
  (:data:`PENDING_MARKER`, :data:`COMMIT_MARKER`). A prefix holding the
  pending marker and no commit marker is an interrupted upload: pulls ignore
  it and the next writer's sweep removes it (:func:`sweep_incomplete`).
- **Leases** (:func:`acquire_lease`): one writer per remote directory. Object
  stores have no ``flock``: the lease is an object (``<prefix>/.lock``)
  naming its owner (pid, host, a random token) and an expiry, renewed by a
  background thread while the command runs and deleted at its end. A second
  command refuses while it is unexpired. Without compare-and-swap (pyarrow
  offers none) it is taken by write, wait :data:`LEASE_SETTLE_S`, read back:
  two commands starting within that window of each other are told apart, a
  process stalled for longer than that between its read and its write is
  not (see SECURITY.md).

Names of the remote layout: every name starting with ``.`` is private to this
module and the lock (temporaries, markers, the lease, stop requests); pulls
never copy such objects, and local files of such names are never uploaded.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from .errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["StorageError", "Remote", "Mirror", "parse_location", "is_remote", "open_location",
           "read_location", "worker_mirror", "refresh", "mirror_of", "portable", "display",
           "file_written", "directory_written", "path_removed", "sweep_incomplete",
           "acquire_lease", "remote_lock", "held_lease_owner", "check_remote_lease",
           "put_signal", "signal_present", "clear_signal", "mirrors_dir", "DisplayFilter",
           "COMMIT_MARKER", "PENDING_MARKER", "LEASE_SECONDS", "LEASE_SETTLE_S", "REMOTE_SCHEMES"]

#: Written last into a directory artifact's prefix: the artifact is complete.
COMMIT_MARKER = ".stdp_ray-committed"
#: Written first into a directory artifact's prefix, removed last: an upload in progress.
PENDING_MARKER = ".stdp_ray-pending"
#: Seconds a lease lasts unless renewed (a crashed command blocks its directory this long).
LEASE_SECONDS = 60.0
#: Seconds between renewals of a held lease.
LEASE_RENEW_S = LEASE_SECONDS / 4
#: Seconds between writing a lease and reading it back to confirm it.
LEASE_SETTLE_S = 1.0
#: Seconds between checks of the store for a stop request (training checks every sample).
SIGNAL_POLL_S = 1.0
#: The URI schemes of object stores (``gcs`` is pyarrow's other name for ``gs``).
REMOTE_SCHEMES = ("s3", "gs", "gcs")
#: Seconds to wait for a connection to the store, and for one request.
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 60.0
#: Parallel transfers of a pull.
TRANSFER_THREADS = 8


class StorageError(InputError):
    """A run-directory URI that cannot be used: bad input (exit status 2), one line."""


# --------------------------------------------------------------------------
# URIs
# --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Remote:
    """A directory on an object store.

    Attributes
    ----------
    uri : str
        ``scheme://bucket/prefix``, without a trailing slash.
    fs : pyarrow.fs.FileSystem
        The store's file system.
    path : str
        ``bucket/prefix``: the directory as ``fs`` names it.
    """

    uri: str
    fs: object = dataclasses.field(compare=False, repr=False)
    path: str

    def child(self, rel: str) -> "Remote":
        """The directory ``rel`` (``a/b``) below this one."""
        rel = rel.strip("/")
        if not rel:
            return self
        return Remote(f"{self.uri}/{rel}", self.fs, f"{self.path}/{rel}")

    def key(self, rel: str) -> str:
        """The store's name of ``rel`` below this directory."""
        rel = rel.strip("/")
        return f"{self.path}/{rel}" if rel else self.path


def is_remote(text: str | os.PathLike) -> bool:
    """Whether ``text`` names a directory on an object store (not a path, not ``file://``)."""
    if not isinstance(text, str):
        return False
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() != "file"


def _scheme(text: str) -> str | None:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    return m.group(1).lower() if m else None


def parse_location(text: str | os.PathLike) -> Path | Remote:
    """The local directory or the remote one that ``text`` names, checked.

    A plain path or a ``file://`` URI gives a :class:`~pathlib.Path`, unchecked
    (local directories are checked where they are used, as before). An
    ``s3://`` or ``gs://`` URI gives a :class:`Remote` once the store has
    answered: its bucket exists and the credentials may list it.

    Raises
    ------
    StorageError
        One line naming the URI and the cause: an unknown scheme, options or
        keys in the URI, no bucket, an unreachable endpoint, a missing bucket,
        missing or refused credentials.
    """
    if isinstance(text, os.PathLike):
        return Path(text)
    scheme = _scheme(text)
    if scheme is None:
        return Path(text)
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise StorageError(f"{text}: a file:// URI must be file:///ABSOLUTE/PATH")
        return Path(parts.path)
    if scheme not in REMOTE_SCHEMES:
        raise StorageError(f"{text}: unknown storage scheme {scheme!r}; use s3://BUCKET/PREFIX, "
                           "gs://BUCKET/PREFIX, file:///PATH or a path")
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise StorageError(f"{text}: options in the URI are not accepted; the endpoint, region "
                           "and credentials come from the environment (AWS_ENDPOINT_URL_S3, "
                           "AWS_REGION, AWS_ACCESS_KEY_ID, ... or the node's role)")
    if "@" in parts.netloc:
        raise StorageError(f"{_redact(text)}: credentials in the URI are not accepted; use the "
                           "environment or the node's role")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not bucket:
        raise StorageError(f"{text}: no bucket; use {scheme}://BUCKET/PREFIX")
    if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise StorageError(f"{text}: the prefix must not hold empty, '.' or '..' parts")
    uri = f"{'gs' if scheme == 'gcs' else scheme}://{bucket}" + (f"/{prefix}" if prefix else "")
    fs = _filesystem(uri, scheme, bucket)
    remote = Remote(uri, fs, f"{bucket}/{prefix}" if prefix else bucket)
    _check_reachable(remote, bucket)
    return remote


def _redact(text: str) -> str:
    return re.sub(r"://[^@/]*@", "://***@", text)


def _endpoint_from_env() -> str | None:
    """``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (the AWS SDKs' variables)."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _filesystem(uri: str, scheme: str, bucket: str):
    """The pyarrow file system of ``uri``, configured from the environment only."""
    from pyarrow import fs as pafs

    try:
        if scheme == "s3":
            # Delayed open: a file below the multipart threshold is one PutObject.
            options = {"connect_timeout": CONNECT_TIMEOUT_S, "request_timeout": REQUEST_TIMEOUT_S,
                       "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
                       "allow_delayed_open": True}
            endpoint = _endpoint_from_env()
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if endpoint:
                parsed = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
                options.update(endpoint_override=parsed.netloc + parsed.path.rstrip("/"),
                               scheme=parsed.scheme or "https")
            elif not region:
                try:
                    region = pafs.resolve_s3_region(bucket)
                except OSError as exc:
                    raise StorageError(f"{uri}: {_cause(exc, uri)}") from None
            if region:
                options["region"] = region
            return pafs.S3FileSystem(**options)
        fs, _ = pafs.FileSystem.from_uri(uri)
        return fs
    except StorageError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise StorageError(f"{uri}: {_cause(exc, uri)}") from None


def _check_reachable(remote: Remote, bucket: str) -> None:
    """The bucket exists and may be listed; StorageError with the cause otherwise.

    Both the bucket's head and a listing are asked for: a refused head says
    only "403", a refused listing says why (unknown key, wrong secret).
    """
    from pyarrow import fs as pafs

    errors = []
    try:
        info = remote.fs.get_file_info(bucket)
        if info.type == pafs.FileType.NotFound:
            raise StorageError(f"{remote.uri}: bucket {bucket!r} does not exist (or these "
                               "credentials may not see it)")
    except OSError as exc:
        errors.append(exc)
    try:
        remote.fs.get_file_info(pafs.FileSelector(remote.path, allow_not_found=True))
    except OSError as exc:
        errors.append(exc)
    if errors:
        causes = [_cause(exc, remote.uri) for exc in errors]
        raise StorageError(f"{remote.uri}: {min(causes, key=_specificity)}")


def _specificity(cause: str) -> int:
    """Rank of a cause phrase: the more specific, the lower."""
    for rank, (_, phrase) in enumerate(_CAUSES):
        if cause.startswith(phrase):
            return rank
    return len(_CAUSES)


#: What pyarrow's (the AWS and Google SDKs') long messages mean, most specific first.
_CAUSES = (
    (r"InvalidAccessKeyId|INVALID_ACCESS_KEY_ID|access key id you provided does not exist",
     "the access key is not known to the store (AWS_ACCESS_KEY_ID)"),
    (r"SignatureDoesNotMatch|SIGNATURE_DOES_NOT_MATCH",
     "the secret key does not match the access key (AWS_SECRET_ACCESS_KEY)"),
    (r"NoSuchBucket|NO_SUCH_BUCKET|bucket does not exist", "the bucket does not exist"),
    (r"Could not resolve host|Couldn't resolve host|curlCode: 6",
     "cannot resolve the endpoint's host name"),
    (r"curlCode: 7|Couldn't connect|Failed to connect|Connection refused|NETWORK_CONNECTION",
     "cannot connect to the endpoint"),
    (r"curlCode: 28|[Tt]imed? ?out|REQUEST_TIMEOUT", "the endpoint did not answer in time"),
    (r"ExpiredToken|EXPIRED_TOKEN", "the credentials have expired"),
    (r"ACCESS_DENIED|AccessDenied|HTTP status 403|PERMISSION_DENIED|Forbidden",
     "access denied: missing or refused credentials (AWS_ACCESS_KEY_ID / "
     "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the node's role, or GOOGLE_APPLICATION_CREDENTIALS)"),
    (r"Unrecognized filesystem type|not supported|unsupported", "unsupported URI"),
    (r"[Cc]redentials", "no usable credentials"),
)


#: Where the AWS SDK finds credentials besides the node's role (instance profile).
_AWS_CREDENTIAL_SOURCES = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def _no_aws_credentials() -> bool:
    """Whether no credentials are configured for S3 on this machine, but perhaps a role."""
    if any(os.environ.get(name) for name in _AWS_CREDENTIAL_SOURCES):
        return False
    files = (os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
             or os.path.join(os.path.expanduser("~"), ".aws", "credentials"))
    return not os.path.exists(files)


def _cause(exc: BaseException, uri: str) -> str:
    """One short phrase for a store's error (the SDKs' messages run to lines)."""
    text = str(exc)
    for pattern, phrase in _CAUSES:
        if re.search(pattern, text):
            if phrase.startswith(("cannot", "the endpoint")):
                endpoint = _endpoint_from_env()
                if endpoint and uri.startswith("s3://"):
                    return f"{phrase} ({endpoint})"
            if phrase.startswith("access denied") and uri.startswith("s3://") \
                    and _no_aws_credentials():
                return _MISSING_CREDENTIALS
            return phrase
    if uri.startswith("s3://") and _no_aws_credentials():
        return _MISSING_CREDENTIALS
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]


_MISSING_CREDENTIALS = ("refused without credentials: none in the environment "
                        "(AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/credentials) and none from "
                        "the node's role")


# --------------------------------------------------------------------------
# Mirrors
# --------------------------------------------------------------------------
class Mirror:
    """A node-private local copy of a remote directory whose writes are pushed to it.

    Attributes
    ----------
    local : Path
        The local directory standing for the remote one (it may not exist
        yet: a new remote directory is created by the first write).
    remote : Remote
    leases : dict of str to _Lease
        The leases this process holds below ``remote``, by relative path ("" =
        ``remote`` itself).
    """

    def __init__(self, local: Path, remote: Remote, scratch: Path):
        self.local = Path(os.path.abspath(local))
        self.remote = remote
        self.scratch = scratch
        self.leases: dict[str, _Lease] = {}
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
        """Raise LeaseLostError if a lease this process holds here was taken over."""
        for lease in self.leases.values():
            if lease.lost is not None:
                from .state import LeaseLostError

                raise LeaseLostError(lease.lost)


_MIRRORS: dict[str, Mirror] = {}
#: Every mirror root this process made, with its URI: error messages name the URI.
_SHOWN: dict[str, str] = {}
_REGISTRY_LOCK = threading.RLock()


def mirrors_dir() -> Path:
    """The node-local directory of mirrors (``$STDP_RAY_CACHE/mirrors``, else
    ``~/.cache/stdp_ray/mirrors``)."""
    from .engines.base import CACHE_ENV

    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / "mirrors"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stdp_ray" / "mirrors"


def mirror_of(path: str | os.PathLike) -> tuple[Mirror, str] | None:
    """The registered mirror holding ``path`` and the path relative to it, or None."""
    if not _MIRRORS:
        return None
    with _REGISTRY_LOCK:
        best = None
        for mirror in _MIRRORS.values():
            rel = mirror.relative(path)
            if rel is not None and (best is None or len(str(mirror.local)) > len(str(best[0].local))):
                best = (mirror, rel)
        return best


def portable(path: str | os.PathLike) -> str:
    """What another node can use for ``path``: its URI inside a mirror, else the path."""
    found = mirror_of(path)
    if found is None:
        return str(path)
    mirror, rel = found
    return mirror.remote.child(rel).uri


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
    """A logging filter that shows every mirror path of a message as its URI (:func:`display`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SHOWN:
            record.msg, record.args = display(record.getMessage()), None
        return True


def _hidden(rel: str) -> bool:
    """Whether a relative path is private (temporaries, markers, the lock): never copied."""
    return any(part.startswith(".") for part in rel.split("/") if part)


def _host() -> str:
    """This machine's name as it appears in mirror names."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _new_scratch(kind: str, uri: str) -> Path:
    """A fresh private directory for a mirror of ``uri`` (removed when done).

    Named ``<kind>-<hash of uri>-<host>-<pid>-<random>``, so that a later
    process of the same machine can remove what a killed one left (a cache
    in a home directory shared between machines is left to each machine).
    """
    base = mirrors_dir()
    base.mkdir(parents=True, exist_ok=True)
    _sweep_dead_mirrors(base)
    digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
    scratch = tempfile.mkdtemp(prefix=f"{kind}-{digest}-{_host()}-{os.getpid()}-", dir=base)
    return Path(scratch).resolve()


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


def _register(mirror: Mirror) -> None:
    with _REGISTRY_LOCK:
        _MIRRORS[str(mirror.local)] = mirror
        _SHOWN[str(mirror.local)] = mirror.remote.uri


def _unregister(mirror: Mirror) -> None:
    with _REGISTRY_LOCK:
        _MIRRORS.pop(str(mirror.local), None)


@contextlib.contextmanager
def open_location(text: str | os.PathLike, *, write: bool) -> Iterator[Path]:
    """The directory ``text`` names, as a local path, while the block runs.

    A local path (or ``file://`` URI) is yielded as it is. A remote directory
    is checked (:func:`parse_location`), then, for a writer, its lease is
    taken (another holder: DirectoryBusyError) and renewed until the block
    ends; its committed content is pulled into a fresh node-private mirror,
    whose writes are pushed to the store while the block runs. The mirror is
    removed, and the lease released, at the end.

    Parameters
    ----------
    text : str or path
    write : bool
        The command writes the directory: take its lease first.
    """
    location = parse_location(text)
    if isinstance(location, Path):
        yield location
        return
    scratch = _new_scratch("run", location.uri)
    mirror = Mirror(scratch / "dir", location, scratch)
    try:
        if write:
            mirror.leases[""] = acquire_lease(location)
        _pull(location, mirror.local)
        _register(mirror)
        yield mirror.local
    finally:
        _unregister(mirror)
        for lease in mirror.leases.values():
            lease.release()
        shutil.rmtree(scratch, ignore_errors=True)


def read_location(text: str | os.PathLike) -> Path:
    """A local copy of the directory ``text`` names, for reading (no lease, nothing pushed).

    Local directories are returned as they are; a remote one is pulled into a
    private mirror that lives until this process ends.
    """
    location = parse_location(text)
    if isinstance(location, Path):
        return location
    scratch = _new_scratch("read", location.uri)
    atexit.register(shutil.rmtree, scratch, True)
    local = scratch / "dir"
    _pull(location, local)
    _SHOWN[str(Path(os.path.abspath(local)))] = location.uri
    return local


def worker_mirror(uri: str) -> Path:
    """Pull the remote directory ``uri`` into a mirror of this node and push its writes.

    For a process that works on part of a run for a driver elsewhere (the
    training actor, under its driver's lease): the mirror lives until the
    process ends.
    """
    remote = parse_location(uri)
    if isinstance(remote, Path):
        return remote
    scratch = _new_scratch("worker", remote.uri)
    atexit.register(shutil.rmtree, scratch, True)
    mirror = Mirror(scratch / "dir", remote, scratch)
    _pull(remote, mirror.local)
    _register(mirror)
    return mirror.local


def refresh(path: str | os.PathLike) -> None:
    """Make the mirror's subtree at ``path`` equal to the store's committed content there.

    What another node wrote (a training actor's checkpoints and statistics)
    is pulled; local files the store no longer holds are removed. Private
    (dot-named) local files stay. A local path: nothing to do.
    """
    found = mirror_of(path)
    if found is None:
        return
    mirror, rel = found
    remote = mirror.remote.child(rel)
    local = Path(path)
    kept = _pull(remote, local)
    if local.is_dir():
        for file in sorted(local.rglob("*"), reverse=True):
            r = file.relative_to(local).as_posix()
            if _hidden(r):
                continue
            if file.is_file() and r not in kept:
                file.unlink()
            elif file.is_dir() and not any(file.iterdir()):
                file.rmdir()


# --------------------------------------------------------------------------
# Listing and pulling
# --------------------------------------------------------------------------
def _list(remote: Remote) -> dict[str, int]:
    """Every object below ``remote``: relative name -> size (no directories)."""
    from pyarrow import fs as pafs

    infos = remote.fs.get_file_info(pafs.FileSelector(remote.path, recursive=True,
                                                      allow_not_found=True))
    base = remote.path.rstrip("/") + "/"
    out = {}
    for info in infos:
        if info.type == pafs.FileType.File and info.path.startswith(base):
            out[info.path[len(base):]] = info.size
    return out


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


def _pull(remote: Remote, local: Path) -> set[str]:
    """Download every committed object below ``remote`` into ``local``; returns their names."""
    try:
        files = _committed(_list(remote))
    except OSError as exc:
        raise OSError(f"{remote.uri}: cannot list ({_cause(exc, remote.uri)})") from None

    def fetch(name: str) -> None:
        target = local / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with remote.fs.open_input_stream(remote.key(name)) as src:
            data = src.read()
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
        with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
            list(pool.map(fetch, sorted(files)))
        logger.info("%s: pulled %d file(s), %.1f MB", remote.uri, len(files),
                    sum(files.values()) / 1e6)
    return set(files)


# --------------------------------------------------------------------------
# Pushing: the hooks of stdp_ray.state's writers
# --------------------------------------------------------------------------
def _put(remote: Remote, key: str, data: bytes) -> None:
    with remote.fs.open_output_stream(key) as out:
        out.write(data)


def _delete(remote: Remote, key: str) -> None:
    try:
        remote.fs.delete_file(key)
    except FileNotFoundError:
        pass


def _target(path) -> tuple[Mirror, str] | None:
    """The mirror and relative name of a written path, or None (local, or private)."""
    found = mirror_of(path)
    if found is None:
        return None
    mirror, rel = found
    if not rel or _hidden(rel):
        return None
    mirror.check_leases()
    return mirror, rel


def file_written(path: str | os.PathLike) -> None:
    """Upload a file that was just written (completely) in a mirror; nothing elsewhere."""
    found = _target(path)
    if found is None:
        return
    mirror, rel = found
    _put(mirror.remote, mirror.remote.key(rel), Path(path).read_bytes())


def directory_written(directory: str | os.PathLike) -> None:
    """Upload a directory artifact that was just written in a mirror, marker last.

    What the store held under its name before is removed first, inside the
    window the pending marker flags: a reader sees the old artifact, or
    nothing, or the new one.
    """
    found = _target(directory)
    if found is None:
        return
    mirror, rel = found
    remote = mirror.remote
    base = remote.key(rel)
    _put(remote, f"{base}/{PENDING_MARKER}", b"")
    _delete(remote, f"{base}/{COMMIT_MARKER}")
    old = _list(remote.child(rel))
    for name in old:
        if name != PENDING_MARKER:
            _delete(remote, f"{base}/{name}")
    directory = Path(directory)
    names = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                   if p.is_file() and not _hidden(p.relative_to(directory).as_posix()))
    for name in names:
        _put(remote, f"{base}/{name}", (directory / name).read_bytes())
    _put(remote, f"{base}/{COMMIT_MARKER}",
         (json.dumps({"files": names}, indent=1) + "\n").encode())
    _delete(remote, f"{base}/{PENDING_MARKER}")


def path_removed(path: str | os.PathLike, was_directory: bool) -> None:
    """Propagate the removal of a file or directory of a mirror to the store.

    A directory's commit marker goes first (a reader never sees a committed
    artifact with files missing); leases below it are left to their holders.
    """
    found = _target(path)
    if found is None:
        return
    mirror, rel = found
    remote = mirror.remote
    if not was_directory:
        _delete(remote, remote.key(rel))
        return
    names = [n for n in _list(remote.child(rel)) if n.rpartition("/")[2] != _lock_name()]
    markers = [n for n in names if n.rpartition("/")[2] == COMMIT_MARKER]
    for name in markers:
        _delete(remote, remote.key(f"{rel}/{name}"))
    _delete_all(remote, [remote.key(f"{rel}/{n}") for n in names if n not in markers])


def _delete_all(remote: Remote, keys: list[str]) -> None:
    """Delete ``keys`` (several at a time: a phase holds hundreds of parts)."""
    if len(keys) <= 1:
        for key in keys:
            _delete(remote, key)
        return
    with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
        list(pool.map(lambda key: _delete(remote, key), keys))


def sweep_incomplete(path: str | os.PathLike, *, recursive: bool = True) -> list[str]:
    """Remove the interrupted directory uploads below a mirror's ``path`` from the store.

    Call while holding the directory's lease. ``recursive=False`` looks only
    at ``path``'s own entries (an ensemble or sweep root, whose members have
    their own leases). Returns the URIs removed.
    """
    found = mirror_of(path)
    if found is None:
        return []
    mirror, rel = found
    remote = mirror.remote.child(rel)
    listing = _list(remote)
    incomplete = _incomplete(listing)
    removed = []
    for directory in sorted(incomplete):
        if not directory or (not recursive and "/" in directory):
            continue
        _delete_all(remote, [remote.key(n) for n in listing if n.startswith(directory + "/")])
        removed.append(remote.child(directory).uri)
    for name in listing:  # pending markers of uploads that committed before they ended
        parent, _, leaf = name.rpartition("/")
        if leaf == PENDING_MARKER and parent not in incomplete \
                and (recursive or "/" not in parent):
            _delete(remote, remote.key(name))
    if removed:
        logger.warning("%s: removed %d interrupted upload(s): %s", remote.uri, len(removed),
                       ", ".join(removed))
    return removed


# --------------------------------------------------------------------------
# Signals (a driver's stop request to a training actor on another node)
# --------------------------------------------------------------------------
def put_signal(path: str | os.PathLike, text: str = "stop\n") -> None:
    """Write the private file ``path`` locally and, in a mirror, on the store."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    found = mirror_of(path)
    if found is not None:
        mirror, rel = found
        _put(mirror.remote, mirror.remote.key(rel), text.encode())


def clear_signal(path: str | os.PathLike) -> None:
    """Remove the private file ``path`` locally and, in a mirror, on the store."""
    path = Path(path)
    path.unlink(missing_ok=True)
    found = mirror_of(path)
    if found is not None:
        mirror, rel = found
        _delete(mirror.remote, mirror.remote.key(rel))


def signal_present(path: str | os.PathLike) -> bool:
    """Whether the private file ``path`` exists (in a mirror: on the store, checked at most
    every :data:`SIGNAL_POLL_S` seconds)."""
    path = Path(path)
    if path.exists():
        return True
    found = mirror_of(path)
    if found is None:
        return False
    mirror, rel = found
    now = time.monotonic()
    checked, present = mirror.signal_checked.get(rel, (float("-inf"), False))
    if now - checked >= SIGNAL_POLL_S:
        from pyarrow import fs as pafs

        try:
            info = mirror.remote.fs.get_file_info(mirror.remote.key(rel))
            present = info.type == pafs.FileType.File
        except OSError as exc:
            logger.warning("%s: cannot check for a stop request (%s)",
                           mirror.remote.child(rel).uri, _cause(exc, mirror.remote.uri))
            present = False
        mirror.signal_checked[rel] = (now, present)
    return present


# --------------------------------------------------------------------------
# Leases
# --------------------------------------------------------------------------
def _owner_line(token: str) -> str:
    """The owner line of a lease, as the local lock file writes it."""
    return f"pid {os.getpid()} on {socket.gethostname()} lease {token}"


class _Lease:
    """A lease held by this process on a remote directory (renewed by a background thread)."""

    def __init__(self, remote: Remote, owner: str):
        self.remote, self.owner = remote, owner
        self.key = remote.key(_lock_name())
        self.lost: str | None = None
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
            _put(self.remote, self.key, self.record())

    def release(self) -> None:
        """Delete the lease object if it is still this process's (once)."""
        _RENEWER.drop(self)
        with self.lock:
            if self.released:
                return
            self.released = True
            try:
                current = _read_lease(self.remote)
                if current is not None and current.get("owner") == self.owner:
                    _delete(self.remote, self.key)
            except OSError as exc:
                logger.warning("%s: lease not released (%s); it expires by itself in %.0f s",
                               self.remote.uri, _cause(exc, self.remote.uri), LEASE_SECONDS)


def _lock_name() -> str:
    from .state import LOCK_FILE

    return LOCK_FILE


def _utc(epoch: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="seconds")


def _read_lease(remote: Remote) -> dict | None:
    """The lease record of ``remote`` (None: no lease object; {} if unreadable)."""
    try:
        with remote.fs.open_input_stream(remote.key(_lock_name())) as src:
            raw = src.read(64 * 1024)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _expired(record: dict) -> bool:
    try:
        return float(record.get("expires", 0)) < time.time()
    except (TypeError, ValueError):
        return True


def acquire_lease(remote: Remote) -> _Lease:
    """Take the lease of ``remote`` (renewed until released) or refuse.

    Raises
    ------
    DirectoryBusyError
        If another process holds an unexpired lease, naming it and its expiry.
    StorageError
        If the store refuses the write (credentials without write permission).
    """
    from .state import DirectoryBusyError

    lease = _Lease(remote, _owner_line(secrets.token_hex(8)))

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
        _put(remote, lease.key, lease.record())
        time.sleep(LEASE_SETTLE_S)
        confirmed = _read_lease(remote)
    except OSError as exc:
        raise StorageError(f"{remote.uri}: cannot take the lease ({_cause(exc, remote.uri)})") \
            from None
    if not confirmed or confirmed.get("owner") != lease.owner:
        raise busy(confirmed or {})
    _RENEWER.add(lease)
    return lease


def held_lease_owner(path: str | os.PathLike) -> str | None:
    """The owner line of the lease this process holds on the mirror directory ``path``."""
    found = mirror_of(path)
    if found is None:
        return None
    mirror, rel = found
    lease = mirror.leases.get(rel)
    return lease.owner if lease is not None else None


@contextlib.contextmanager
def remote_lock(directory: str | os.PathLike, *, shared: bool = False):
    """Hold the remote lease of a mirror directory while the block runs (nothing elsewhere).

    The directory a command opened for writing already holds its lease
    (:func:`open_location`); a directory below it (an ensemble's member, a
    curve) takes its own. Readers (``shared``) work on their pulled copy and
    take none.
    """
    found = mirror_of(directory)
    if found is None or shared:
        yield
        return
    mirror, rel = found
    if rel in mirror.leases:
        yield
        return
    lease = acquire_lease(mirror.remote.child(rel))
    mirror.leases[rel] = lease
    try:
        yield
    finally:
        mirror.leases.pop(rel, None)
        lease.release()


def check_remote_lease(uri: str, owner: str) -> None:
    """Raise LeaseLostError unless ``uri``'s lease is held, unexpired, by ``owner``."""
    from .state import LeaseLostError

    remote = parse_location(uri)
    if isinstance(remote, Path):
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


class _Renewer:
    """One daemon thread renewing every lease this process holds."""

    def __init__(self):
        self.leases: list[_Lease] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()

    def add(self, lease: _Lease) -> None:
        with self.lock:
            self.leases.append(lease)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="stdp-ray-lease",
                                               daemon=True)
                self.thread.start()

    def drop(self, lease: _Lease) -> None:
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
                except OSError as exc:
                    logger.warning("%s: lease not renewed (%s); retrying", lease.remote.uri,
                                   _cause(exc, lease.remote.uri))


_RENEWER = _Renewer()
