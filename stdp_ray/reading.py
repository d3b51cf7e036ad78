"""Reading files as data from whoever wrote them: the one owner of every JSON/TOML read.

Every reader here opens a file with ``O_NONBLOCK`` and checks with ``fstat``
that it is a regular file before reading a byte (a character device, a FIFO or
a socket is refused, never read or waited on), without following a symbolic
link unless asked (:func:`open_regular`; below a run directory's root no
directory on its way may be a link either, :func:`stdp_ray.confine.check`), and
bounds what it reads:

- text (:func:`read_text`): at most a stated number of bytes (the limit is
  named in the message), decoded as strict UTF-8;
- JSON and TOML (:func:`load_json`, :func:`load_toml`, :func:`parse_json`):
  run and artifact files up to :data:`MAX_JSON_BYTES`, configuration files up
  to :data:`MAX_CONFIG_BYTES`; nesting too deep for the parser and integers
  longer than Python converts (``sys.get_int_max_str_digits()``, 4300 digits)
  are "not valid" like any other malformed file, the integer's key named;
- ``.npz`` (:func:`load_npz`) member by member with each header (shape,
  dtype) checked before any data is read and no pickle ever loaded.

What is missing or malformed is one line, an :class:`ArtifactError` naming the
file and what is wrong. Every JSON and TOML file the package reads (``--config``,
``network.json``, a run's ``config.json`` and ``metrics.json``, manifests, a
checkpoint's ``state.json``, a lease record) goes through here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import sys
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from . import confine
from .errors import InputError

__all__ = ["ArtifactError", "open_regular", "read_text", "parse_json", "parse_toml",
           "load_json", "load_toml", "load_npz", "sha256_of", "MAX_JSON_BYTES",
           "MAX_CONFIG_BYTES"]

#: Largest JSON file read from an artifact or run directory (16 MiB).
MAX_JSON_BYTES = 16 * 2**20
#: Largest configuration file (``--config``, TOML or JSON) read (1 MiB).
MAX_CONFIG_BYTES = 2**20


class ArtifactError(InputError):
    """A network directory, checkpoint or run file is missing, malformed or incompatible."""


def open_regular(path: str | os.PathLike, *, follow_links: bool = False):
    """Open ``path`` for binary reading, a regular file only, without ever blocking.

    The file is opened with ``O_NONBLOCK`` (a FIFO without a writer does not
    block the open) and checked with ``fstat`` before anything is read.

    Parameters
    ----------
    path : path
    follow_links : bool
        Follow a symbolic link (a user's own file, e.g. ``--config``); by
        default a link is refused (files of run and artifact directories).

    Returns
    -------
    file
        Opened for binary reading.

    Below a run directory's root, no directory on its way may be a link
    either (:func:`stdp_ray.confine.check`).

    Raises
    ------
    ArtifactError
        If it is missing, a symbolic link (unless ``follow_links``), or not a
        regular file (a directory, a character device, a FIFO, a socket).
    LinkInsideError
        If a directory on its way below a run directory's root is a link.
    """
    path = Path(confine.check(path))
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactError(f"{path}: is a symbolic link; refusing to follow it") from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise ArtifactError(f"{path}: is not a regular file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ArtifactError(f"{path}: is not a regular file ({_kind(mode)})")
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str:
    """What a file that is not regular is, in words."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def read_text(path: str | os.PathLike, limit: int, *, follow_links: bool = False) -> str:
    """The text of a regular file of at most ``limit`` bytes, decoded as strict UTF-8.

    Parameters
    ----------
    path : path
    limit : int
        Most bytes read; a larger file is refused (its stated size is checked
        before reading, and at most ``limit + 1`` bytes are ever read).
    follow_links : bool
        See :func:`open_regular`.

    Raises
    ------
    ArtifactError
        One line naming the file: missing, not a regular file, a link, larger
        than ``limit`` bytes, or not UTF-8 (the offset of the first bad byte).
    """
    path = Path(path)
    with open_regular(path, follow_links=follow_links) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ArtifactError(f"{path}: {size} bytes, larger than the {_bytes(limit)} read "
                                "at most")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ArtifactError(f"{path}: larger than the {_bytes(limit)} read at most")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                            f"{exc.start})") from None


def _bytes(n: int) -> str:
    """A byte count as its limit is documented: ``1 MiB``, ``16 MiB``, ``8 bytes``."""
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n} bytes"


def _invalid(source: str, fmt: str, exc: BaseException, text: str | bytes) -> ArtifactError:
    """The one-line error of a JSON or TOML text that does not parse."""
    if isinstance(exc, RecursionError):
        return ArtifactError(f"{source}: not valid {fmt} (nested too deeply to read)")
    if "integer string conversion" in str(exc):
        limit = sys.get_int_max_str_digits()
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        found = re.search(r"""["']?([A-Za-z_][\w.-]*)["']?\s*[:=]\s*[-+]?(\d[\d_]{%d,})"""
                          % limit, text)
        if found:
            digits = len(found.group(2).replace("_", ""))
            return ArtifactError(f"{source}: {found.group(1)}: an integer of {digits} digits, "
                                 f"at most {limit} are read")
        return ArtifactError(f"{source}: not valid {fmt} (an integer of more than {limit} "
                             "digits)")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ArtifactError(f"{source}: not valid {fmt} ({first[:200]})")


def parse_json(text: str | bytes, source: str) -> object:
    """Parse a JSON text; any malformed text is one :class:`ArtifactError` naming ``source``.

    Syntax errors, bytes that are not UTF-8, nesting too deep for the parser
    (``RecursionError``) and integers longer than Python converts are all
    "not valid JSON"; the caller bounds the text's size.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _invalid(source, "JSON", exc, text) from None


def parse_toml(text: str, source: str) -> dict:
    """Parse a TOML text; any malformed text is one :class:`ArtifactError` naming ``source``
    (as :func:`parse_json`)."""
    import tomllib

    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise _invalid(source, "TOML", exc, text) from None


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


def load_json(path: str | os.PathLike, *, limit: int | None = None,
              follow_links: bool = False) -> dict:
    """Read a JSON object; ArtifactError names the file and what is wrong.

    Parameters
    ----------
    path : path
    limit : int, optional
        Most bytes read (default :data:`MAX_JSON_BYTES`).
    follow_links : bool
        See :func:`open_regular` (default: a link is refused).

    Raises
    ------
    ArtifactError
        As :func:`read_text` and :func:`parse_json`, or if the file holds no
        JSON object.
    """
    path = Path(path)
    text = read_text(path, MAX_JSON_BYTES if limit is None else limit,
                     follow_links=follow_links)
    data = parse_json(text, str(path))
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_toml(path: str | os.PathLike, *, limit: int = MAX_CONFIG_BYTES,
              follow_links: bool = False) -> dict:
    """Read a TOML table, bounded as :func:`load_json` (default :data:`MAX_CONFIG_BYTES`)."""
    path = Path(path)
    return parse_toml(read_text(path, limit, follow_links=follow_links), str(path))


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a regular file (not followed through a link)."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
