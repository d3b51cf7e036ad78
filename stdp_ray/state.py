"""Storage primitives and the network artifact: ``.npz`` (no pickle) + JSON.

This module owns

- the atomic write helpers that every writer of the package uses
  (:func:`atomic_file`, :func:`atomic_write_bytes`, :func:`atomic_write_json`,
  :func:`atomic_save_npz`, :func:`atomic_directory`) and the names of the
  temporaries they leave when interrupted (:data:`TEMPORARY_FILE_GLOB`,
  :func:`temporary_directory_glob`), so that sweeps match exactly what they write;
- the directory lock (:func:`directory_lock`, its file :data:`LOCK_FILE`);
- provenance records (:func:`provenance`);
- the network artifact, one directory::

    network/
      network.json      configuration, provenance, format version
      arrays.npz        weights (n_input, n_neurons), theta_mV (n_neurons,),
                        delays_ms (n_input, n_neurons)
      assignments.npz   assignments (n_neurons,) int16, class_rates (10, n_neurons)
                        (once observed)

Directories are written under a temporary name and renamed into place, files
likewise, so a reader never sees half an artifact. Where these files sit in a
run directory is :mod:`stdp_ray.rundir`'s business.

These helpers are the only writers (and :func:`remove_path` the only remover)
of run directories, so they are also where a run directory on object storage
is kept in step: inside a node-local mirror of one (:mod:`stdp_ray.storage`),
each completed file is uploaded, each directory artifact uploaded with its
commit marker last, each removal propagated, and the lock is the remote lease.
Outside a mirror these hooks do nothing.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import errno
import hashlib
import json
import logging
import os
import platform
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import BusyError, InputError
from . import storage
from .config import Config, config_from_dict, config_to_dict
from .network import NUM_CLASSES, FrozenNetwork

logger = logging.getLogger(__name__)

__all__ = ["Network", "ArtifactError", "save_network", "load_network", "save_assignments",
           "load_assignments", "atomic_write_bytes", "atomic_write_json", "atomic_save_npz",
           "load_npz", "provenance", "NETWORK_JSON", "ARRAYS_NPZ", "ASSIGNMENTS_NPZ",
           "LOCK_FILE", "DirectoryBusyError", "directory_lock", "remove_path",
           "atomic_file", "atomic_directory", "TEMPORARY_FILE_GLOB", "temporary_directory_glob",
           "replaced_directory", "load_json", "open_regular", "sha256_of", "copy_known_files",
           "lock_owner", "check_lease", "LeaseLostError"]

NETWORK_JSON = "network.json"
ARRAYS_NPZ = "arrays.npz"
ASSIGNMENTS_NPZ = "assignments.npz"
FORMAT = "stdp-ray-network"
FORMAT_VERSION = 1
#: Held (``flock``) by the one process working on a run or ensemble directory.
LOCK_FILE = ".lock"


class ArtifactError(InputError):
    """A network directory or checkpoint is missing, malformed or incompatible."""


class DirectoryBusyError(BusyError):
    """Another process holds the directory's lock."""


@dataclass(frozen=True)
class Network:
    """A network loaded from disk: configuration, arrays, provenance, assignments."""

    config: Config
    arrays: FrozenNetwork
    provenance: dict = field(default_factory=dict)
    assignments: np.ndarray | None = None
    class_rates: np.ndarray | None = None


# --------------------------------------------------------------------------
# Atomic file primitives
# --------------------------------------------------------------------------
#: Glob of the temporary files :func:`atomic_file` leaves when a write is
#: interrupted (``.<name>.<random>.tmp``), for the sweeps that remove them.
TEMPORARY_FILE_GLOB = ".*.tmp"


def temporary_directory_glob(name: str) -> str:
    """Glob of what :func:`atomic_directory` leaves beside ``name`` when interrupted.

    Its temporary (``.<name>.<random>``) and the replaced directory
    (``.<name>.old``, see :func:`replaced_directory`); ``name`` may itself be
    a glob.
    """
    return f".{name}.*"


def replaced_directory(directory: str | os.PathLike) -> Path:
    """Where :func:`atomic_directory` moves an existing ``directory`` during its swap."""
    directory = Path(directory)
    return directory.with_name(f".{directory.name}.old")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, mode: int | None = None, durable: bool = False):
    """Open a temporary binary file beside ``path``; on success it replaces ``path``.

    The temporary is ``.<name>.<random>.tmp`` (:data:`TEMPORARY_FILE_GLOB`),
    fsynced before the rename. On any error it is removed and ``path`` is left
    as it was.

    Parameters
    ----------
    path : path
        The file to write; its parent directories are created.
    mode : int, optional
        Permission bits of the file (default ``0o666`` less the umask, as
        ``open`` gives).
    durable : bool
        Also fsync the directory after the rename (best effort), so that the
        rename itself survives a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            publish_mode(tmp)
        else:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise _naming(exc, path) from exc
    except BaseException:
        _unlink(tmp)
        raise
    if durable:
        _fsync_directory(path.parent)
    storage.file_written(path)


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc``, or the same error naming ``path`` where it names no file (a failed write)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def _fsync_directory(directory: Path) -> None:
    """Best-effort fsync of a directory, so that a rename in it is durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(directory: str | os.PathLike):
    """Fill a temporary directory beside ``directory``; on success it replaces ``directory``.

    The temporary is ``.<name>.<random>``; an existing ``directory`` is first
    renamed to ``.<name>.old`` (:func:`replaced_directory`) and removed after
    the swap (the window between the two renames is what a run directory's
    sweep repairs); :func:`temporary_directory_glob` matches both. On any error
    the temporary is removed and ``directory`` is left as it was. The parent
    directory is fsynced after the renames, so that they survive a power loss.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield tmp
        publish_mode(tmp, directory=True)
        if directory.exists():
            old = replaced_directory(directory)
            remove_path(old)
            os.replace(directory, old)
            os.replace(tmp, directory)
            remove_path(old)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_directory(directory.parent)
    storage.directory_written(directory)


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

    In a mirror of a remote run directory (:mod:`stdp_ray.storage`) the lock
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
    directory = Path(directory)
    with storage.remote_lock(directory, shared=shared):
        with _local_lock(directory, shared=shared) as locked:
            yield locked


@contextlib.contextmanager
def _local_lock(directory: Path, *, shared: bool):
    """The ``flock`` of :func:`directory_lock`."""
    import fcntl
    import secrets
    import socket

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
            if owner.startswith(f"pid {os.getpid()} on {socket.gethostname()} "):
                raise DirectoryBusyError(f"{directory}: already locked by this process (a "
                                         "nested lock of the same directory)") from None
            raise DirectoryBusyError(
                f"{directory}: in use by another stdp-ray process ({owner}); wait for it to "
                "finish or stop it") from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} lease "
                          f"{secrets.token_hex(8)}\n".encode(), 0)
        yield directory
    finally:
        os.close(fd)  # releases the flock


def lock_owner(directory: str | os.PathLike) -> str | None:
    """The owner line of ``directory/.lock`` (pid, host, lease token), or None without one.

    In a mirror of a remote directory: the owner line of the lease this
    process holds on it (what :func:`check_lease` compares, on any node).
    """
    remote_owner = storage.held_lease_owner(directory)
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


class LeaseLostError(BusyError):
    """The driver that started a worker no longer holds its directory's lock."""


def check_lease(directory: str | os.PathLike, owner: str) -> None:
    """Raise LeaseLostError unless ``directory``'s lock is still held by ``owner``.

    A training actor calls this before it writes: after its driver has died
    (the lock is free, or taken by a newer driver with another lease token) it
    must not write into a directory that is no longer its own. ``directory``
    may be the URI of a remote directory (:func:`stdp_ray.storage.portable`):
    its lease object must then name ``owner`` and be unexpired.
    """
    import fcntl

    if storage.is_remote(directory):
        storage.check_remote_lease(directory, owner)
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_file(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` through a temporary file and a rename."""
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)
    return Path(path)


#: Largest JSON file read from an artifact or run directory.
MAX_JSON_BYTES = 16 * 2**20


def open_regular(path: str | os.PathLike):
    """Open ``path`` for binary reading without following a symbolic link.

    Raises
    ------
    ArtifactError
        If it is missing, a symbolic link or not a regular file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactError(f"{path}: is a symbolic link; refusing to follow it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArtifactError(f"{path}: is not a regular file")
    return os.fdopen(fd, "rb")


def load_npz(path: str | os.PathLike, required: tuple[str, ...] = (), *,
             shapes: Mapping[str, tuple[int, ...] | None] | None = None,
             max_elements: int | None = None, max_members: int = 64,
             kinds: str = "fiub") -> dict[str, np.ndarray]:
    """Load an ``.npz`` safely; ArtifactError names the file and what is wrong.

    The file is opened without following a symbolic link; each member's npy
    header (shape, dtype) is checked before any of its data is read, no pickle
    is ever loaded, and only the members asked for are read.

    Parameters
    ----------
    path : path
    required : tuple of str
        Members that must be present.
    shapes : mapping of str to tuple or None, optional
        The members to read and the shape each must have (None: any shape up
        to ``max_elements``). Given, only these members are read (others are
        ignored, unread); without it every member is read (at most
        ``max_members`` of them).
    max_elements : int, optional
        Most elements of a member whose shape is not fixed (default: no limit
        beyond the zip entry's stated size).
    max_members : int
        Most members read when ``shapes`` is not given.
    kinds : str
        The dtype kinds allowed (numpy ``dtype.kind`` letters).
    """
    path = Path(path)
    with open_regular(path) as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                entries = {name[:-4]: zf.getinfo(name) for name in zf.namelist()
                           if name.endswith(".npy")}
                missing = [k for k in required if k not in entries]
                if missing:
                    raise ArtifactError(f"{path}: missing arrays {missing} (has "
                                        f"{sorted(entries)[:20]})")
                if shapes is None:
                    if len(entries) > max_members:
                        raise ArtifactError(f"{path}: holds {len(entries)} arrays, at most "
                                            f"{max_members} expected")
                    wanted = {k: None for k in entries}
                else:
                    wanted = {k: v for k, v in shapes.items() if k in entries}
                return {k: _read_member(zf, entries[k], path, k, shape, max_elements, kinds)
                        for k, shape in wanted.items()}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile,
                NotImplementedError) as exc:
            if isinstance(exc, ArtifactError):
                raise
            raise ArtifactError(f"{path}: not a readable .npz file ({exc})") from exc


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str,
                 shape: tuple[int, ...] | None, max_elements: int | None,
                 kinds: str) -> np.ndarray:
    """One npz member, its header checked before its data is read."""
    fmt = np.lib.format
    source = f"{path}: {name}"
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            found, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            found, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ArtifactError(f"{source}: npy format version {version} not supported")
        if dtype.hasobject:
            raise ArtifactError(f"{path}: not a readable .npz file ({name} is an object "
                                "array, never loaded: allow_pickle=False)")
        if dtype.kind not in kinds or dtype.fields is not None:
            raise ArtifactError(f"{source} has dtype {dtype}, not allowed (kinds {kinds!r})")
        if shape is not None and tuple(found) != tuple(shape):
            raise ArtifactError(f"{source} has shape {tuple(found)}, must be {tuple(shape)}")
        count = int(np.prod(found, dtype=object))
        limit = int(np.prod(shape, dtype=object)) if shape is not None else max_elements
        if limit is not None and count > limit:
            raise ArtifactError(f"{source} has {count} elements (shape {tuple(found)}), at "
                                f"most {limit} expected")
        nbytes = count * dtype.itemsize
        if info.file_size < nbytes:
            raise ArtifactError(f"{source}: header claims {nbytes} bytes of data, the file "
                                f"holds {info.file_size}")
        data = fp.read(nbytes)
        if len(data) != nbytes:
            raise ArtifactError(f"{source}: truncated ({len(data)} of {nbytes} bytes)")
    arr = np.frombuffer(data, dtype=dtype)
    if fortran:
        return arr.reshape(found[::-1]).transpose().copy()
    return arr.reshape(found).copy()


def load_json(path: str | os.PathLike) -> dict:
    """Read a JSON object; ArtifactError names the file and what is wrong.

    The file is opened without following a symbolic link and read up to
    :data:`MAX_JSON_BYTES`.
    """
    path = Path(path)
    with open_regular(path) as fh:
        text = fh.read(MAX_JSON_BYTES + 1)
    if len(text) > MAX_JSON_BYTES:
        raise ArtifactError(f"{path}: larger than {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a regular file (not followed through a link)."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_known_files(source: str | os.PathLike, dest: str | os.PathLike,
                     names: tuple[str, ...], required: tuple[str, ...] = ()) -> list[str]:
    """Copy the regular files ``names`` of ``source`` into ``dest``; nothing else.

    Links are refused, never followed; other files in ``source`` are ignored.
    Returns the names copied.

    Raises
    ------
    ArtifactError
        If a file of ``required`` is missing, or one of ``names`` is a link or
        not a regular file.
    """
    source, dest = Path(source), Path(dest)
    copied = []
    for name in names:
        if not os.path.lexists(source / name):
            if name in required:
                raise ArtifactError(f"{source / name}: file not found")
            continue
        with open_regular(source / name) as src:
            try:
                with open(dest / name, "xb") as out:
                    shutil.copyfileobj(src, out)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                raise _naming(exc, dest / name) from exc
        copied.append(name)
    return copied


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Give a temporary file/dir (created private) the usual permissions before its rename."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file, link or directory tree; nothing if it does not exist.

    In a mirror of a remote run directory the removal reaches the store too
    (:func:`stdp_ray.storage.path_removed`).
    """
    path = Path(path)
    directory = path.is_dir() and not path.is_symlink()
    if directory:
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)
    storage.path_removed(path, directory)


def _unlink(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit (``-dirty`` if modified), or None outside a git checkout.

    Read once per process: a long training records the commit of the code it
    runs, not whatever the checkout moved to while it ran (processes that
    record provenance call this when they start).
    """
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
        return rev + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(**extra: Any) -> dict:
    """Package versions, host and time, plus ``extra`` (seed, samples seen...)."""
    import brian2

    from . import __version__

    versions = {"stdp_ray": __version__, "brian2": brian2.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    try:
        import ray

        versions["ray"] = ray.__version__
    except ImportError:  # pragma: no cover - ray is a dependency
        pass
    info = {"versions": versions, "host": platform.node(), "commit": git_commit(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    info.update(extra)
    return info


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------
#: The arrays of a network (``arrays.npz``, and a checkpoint's).
NETWORK_ARRAYS = ("weights", "theta_mV", "delays_ms")
#: The files of a network directory: what an import copies, nothing else.
NETWORK_FILES = (NETWORK_JSON, ARRAYS_NPZ, ASSIGNMENTS_NPZ)
#: Most input-to-excitatory synapses of a network read from disk (the paper's
#: largest, 784 x 6400, is 5.0e6): bounds the memory a received artifact can claim.
MAX_NETWORK_SYNAPSES = 2**26


def network_shapes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """The shape of each of :data:`NETWORK_ARRAYS` for ``cfg``."""
    return {"weights": (cfg.n_input, cfg.n_neurons), "theta_mV": (cfg.n_neurons,),
            "delays_ms": (cfg.n_input, cfg.n_neurons)}



# --------------------------------------------------------------------------
def validate_arrays(arrays: FrozenNetwork, cfg: Config, source: str = "network") -> FrozenNetwork:
    """Check shapes, dtypes and values of ``arrays`` against ``cfg``; returns float64 copies."""
    shape_w = (cfg.n_input, cfg.n_neurons)
    checks = (("weights", arrays.weights, shape_w), ("theta_mV", arrays.theta_mV, (cfg.n_neurons,)),
              ("delays_ms", arrays.delays_ms, shape_w))
    out = {}
    for name, arr, shape in checks:
        if not isinstance(arr, np.ndarray):
            raise ArtifactError(f"{source}: {name} is a {type(arr).__name__}, must be an ndarray")
        if arr.shape != shape:
            raise ArtifactError(f"{source}: {name} has shape {arr.shape}, must be {shape} "
                                f"for n_input={cfg.n_input}, n_neurons={cfg.n_neurons}")
        if arr.dtype.kind != "f":
            raise ArtifactError(f"{source}: {name} has dtype {arr.dtype}, must be floating point")
        if not np.all(np.isfinite(arr)):
            raise ArtifactError(f"{source}: {name} holds {int(np.sum(~np.isfinite(arr)))} "
                                "non-finite values")
        out[name] = np.array(arr, dtype=np.float64)
    if out["weights"].min() < 0 or out["weights"].max() > cfg.w_max:
        raise ArtifactError(f"{source}: weights span [{out['weights'].min():.4g}, "
                            f"{out['weights'].max():.4g}], must lie in [0, w_max={cfg.w_max}]")
    if out["delays_ms"].min() < 0 or out["delays_ms"].max() > cfg.delay_max_ms:
        raise ArtifactError(f"{source}: delays_ms span [{out['delays_ms'].min():.4g}, "
                            f"{out['delays_ms'].max():.4g}], must lie in "
                            f"[0, delay_max_ms={cfg.delay_max_ms}]")
    return FrozenNetwork(**out)


def validate_assignments(assignments: np.ndarray, class_rates: np.ndarray, cfg: Config,
                         source: str = "assignments") -> None:
    """Check an assignment vector and its (10, n_neurons) class-rate table."""
    if assignments.shape != (cfg.n_neurons,):
        raise ArtifactError(f"{source}: assignments has shape {assignments.shape}, must be "
                            f"({cfg.n_neurons},)")
    if assignments.dtype.kind not in "iu":
        raise ArtifactError(f"{source}: assignments has dtype {assignments.dtype}, must be integer")
    if assignments.min() < 0 or assignments.max() >= NUM_CLASSES:
        raise ArtifactError(f"{source}: assignments must lie in 0..9")
    if class_rates.shape != (NUM_CLASSES, cfg.n_neurons) or not np.all(np.isfinite(class_rates)):
        raise ArtifactError(f"{source}: class_rates must be finite with shape "
                            f"({NUM_CLASSES}, {cfg.n_neurons}), got {class_rates.shape}")


# --------------------------------------------------------------------------
# Save / load
# --------------------------------------------------------------------------
def save_network(directory: str | os.PathLike, cfg: Config, arrays: FrozenNetwork, *,
                 prov: Mapping[str, Any] | None = None, dtype: str = "float64",
                 overwrite: bool = False,
                 assignments: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Write a network directory atomically (a temporary directory renamed into place).

    Parameters
    ----------
    directory : path
        The network directory to create.
    cfg : Config
    arrays : FrozenNetwork
    prov : mapping, optional
        Provenance (seed, samples seen...); versions, host and time are added.
    dtype : {"float64", "float32"}
        Storage precision of the arrays.
    overwrite : bool
        Replace an existing network directory (default: refuse).
    assignments : (ndarray, ndarray), optional
        The label assignment ``(assignments, class_rates)`` to store with it
        (``assignments.npz``, as :func:`save_assignments` writes it), inside
        the same atomic rename: the artifact appears whole or not at all.
    """
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype == {dtype!r}, must be 'float64' or 'float32'")
    directory = Path(directory)
    arrays = validate_arrays(arrays, cfg, str(directory))
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory}: a network already exists here (pass overwrite)")
    with atomic_directory(directory) as tmp:
        atomic_save_npz(tmp / ARRAYS_NPZ, weights=_cast_below(arrays.weights, dtype, cfg.w_max),
                        theta_mV=arrays.theta_mV.astype(dtype),
                        delays_ms=_cast_below(arrays.delays_ms, dtype, cfg.delay_max_ms))
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "config": config_to_dict(cfg), "provenance": provenance(**dict(prov or {}))}
        atomic_write_json(tmp / NETWORK_JSON, meta)
        if assignments is not None:
            save_assignments(tmp, cfg, *assignments)
    logger.info("saved network %s (%d neurons)", directory, cfg.n_neurons)
    return directory


def _cast_below(arr: np.ndarray, dtype: str, upper: float) -> np.ndarray:
    """``arr.astype(dtype)``, values that rounding lifted above ``upper`` set just below it."""
    out = arr.astype(dtype)
    cap = np.asarray(upper, dtype=dtype)
    if float(cap) > upper:  # upper is not representable in dtype and rounds up
        cap = np.nextafter(cap, np.asarray(0, dtype=dtype))
    return np.minimum(out, cap)


def load_network(directory: str | os.PathLike, *, expect: Config | None = None) -> Network:
    """Load and check a network directory.

    Parameters
    ----------
    directory : path
    expect : Config, optional
        If given, the stored configuration's model must equal this one's.

    Raises
    ------
    ArtifactError
        Naming the file and what is wrong.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no network directory here")
    meta = load_json(directory / NETWORK_JSON)
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{directory / NETWORK_JSON}: format == {meta.get('format')!r}, "
                            f"must be {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory / NETWORK_JSON}: format_version == "
                            f"{meta.get('format_version')!r}, this stdp-ray reads {FORMAT_VERSION}")
    try:
        cfg = config_from_dict(meta.get("config"), source=str(directory / NETWORK_JSON))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(str(exc)) from exc
    if cfg.n_input * cfg.n_neurons > MAX_NETWORK_SYNAPSES:
        raise ArtifactError(f"{directory / NETWORK_JSON}: n_input * n_neurons == "
                            f"{cfg.n_input * cfg.n_neurons}, at most {MAX_NETWORK_SYNAPSES} "
                            "read")
    diff = cfg.diff(expect) if expect is not None else None
    if diff:
        raise ArtifactError(f"{directory / NETWORK_JSON}: configuration does not match; "
                            f"stored vs expected: {diff}")
    raw = load_npz(directory / ARRAYS_NPZ, NETWORK_ARRAYS, shapes=network_shapes(cfg))
    arrays = validate_arrays(FrozenNetwork(raw["weights"], raw["theta_mV"], raw["delays_ms"]),
                             cfg, str(directory / ARRAYS_NPZ))
    assignments = class_rates = None
    if os.path.lexists(directory / ASSIGNMENTS_NPZ):
        assignments, class_rates = load_assignments(directory, cfg)
    return Network(cfg, arrays, meta.get("provenance", {}), assignments, class_rates)


def save_assignments(directory: str | os.PathLike, cfg: Config, assignments: np.ndarray,
                     class_rates: np.ndarray) -> Path:
    """Store the label assignment of a network directory (atomic file replace)."""
    directory = Path(directory)
    assignments = np.asarray(assignments)
    class_rates = np.asarray(class_rates, dtype=np.float64)
    # Check before the int16 cast, which would truncate floats and wrap large values.
    validate_assignments(assignments, class_rates, cfg, str(directory / ASSIGNMENTS_NPZ))
    return atomic_save_npz(directory / ASSIGNMENTS_NPZ, assignments=assignments.astype(np.int16),
                           class_rates=class_rates)


def load_assignments(directory: str | os.PathLike, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Load ``assignments.npz`` of a network directory, checked against ``cfg``."""
    path = Path(directory) / ASSIGNMENTS_NPZ
    raw = load_npz(path, ("assignments", "class_rates"),
                   shapes={"assignments": None, "class_rates": None},
                   max_elements=NUM_CLASSES * cfg.n_neurons)
    validate_assignments(raw["assignments"], raw["class_rates"], cfg, str(path))
    return raw["assignments"].astype(np.int64), raw["class_rates"]
