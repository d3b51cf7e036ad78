"""Directories on object stores: their URIs, the store's answers, its objects.

A run directory (or an ensemble or sweep root) may be a URI: ``s3://bucket/prefix``,
``gs://bucket/prefix``, ``file:///abs/path`` or a plain path. Plain paths and
``file://`` URIs are local directories. :func:`parse_location` checks a URI
once, before anything is read or written, with a one-line :class:`StorageError`
naming the URI and the cause (unknown scheme, unreachable endpoint, missing
bucket, missing or refused credentials). Endpoint, region and credentials come
only from the standard environment variables and the machine's role
(``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` /
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, the EC2 instance profile; for GCS
``GOOGLE_APPLICATION_CREDENTIALS`` or the node's service account): a URI
carrying options (``?endpoint_override=...``) or keys is refused.

A :class:`Remote` is one checked directory of a store; its methods are the
only object operations of the package (:meth:`Remote.put`,
:meth:`Remote.read`, :meth:`Remote.is_file`, :meth:`Remote.delete`,
:meth:`Remote.listing`), each bounded in time and interruptible
(:mod:`stdp_ray.stalls`: a store that does not answer within
``$STDP_RAY_STORE_TIMEOUT_S``, 30 s by default, is one line, exit status 3),
and :func:`cause` turns the stores' long errors into one phrase. Mirrors (:mod:`stdp_ray.mirrors`) and
leases (:mod:`stdp_ray.leases`) build on them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from . import stalls
from .errors import InputError

__all__ = ["StorageError", "Remote", "parse_location", "is_remote", "cause", "redact",
           "REMOTE_SCHEMES", "TRANSFER_THREADS"]

#: The URI schemes of object stores (``gcs`` is pyarrow's other name for ``gs``).
REMOTE_SCHEMES = ("s3", "gs", "gcs")
#: Seconds to wait for a connection to the store, and for one request.
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 60.0
#: Parallel transfers of a pull or a removal.
TRANSFER_THREADS = 8


class StorageError(InputError):
    """A run-directory URI that cannot be used: bad input (exit status 2), one line."""


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

    def call(self, what: str, fn, *args, nbytes: int = 0):
        """``fn(*args)``, a call to this store, bounded in time and interruptible
        (:func:`stdp_ray.stalls.call`; :class:`~stdp_ray.stalls.StoreStalled` naming
        :attr:`uri`)."""
        scheme, _, rest = self.uri.partition("://")
        store = f"{scheme}://{rest.partition('/')[0]}"
        endpoint = _endpoint_from_env() if scheme == "s3" else None
        return stalls.call(self.uri, store, what, fn, *args, nbytes=nbytes,
                           shown=f" ({endpoint})" if endpoint else "")

    def _name(self, key: str) -> str:
        """``key`` relative to this directory, for messages."""
        base = self.path.rstrip("/") + "/"
        return key[len(base):] if key.startswith(base) else key

    def put(self, key: str, data: bytes) -> None:
        """Write the object ``key`` (one PUT: complete or not at all)."""
        def put() -> None:
            with self.fs.open_output_stream(key) as out:
                out.write(data)

        self.call(f"writing {self._name(key)}", put, nbytes=len(data))

    def read(self, key: str, limit: int | None = None, size: int = 0) -> bytes:
        """The object ``key`` (its first ``limit`` bytes); FileNotFoundError if there is none.

        ``size``: the bytes expected, for the stall limit's allowance.
        """
        def read() -> bytes:
            with self.fs.open_input_stream(key) as src:
                return src.read() if limit is None else src.read(limit)

        return self.call(f"reading {self._name(key)}", read, nbytes=size)

    def is_file(self, key: str) -> bool:
        """Whether the object ``key`` exists."""
        from pyarrow import fs as pafs

        info = self.call(f"looking up {self._name(key)}", self.fs.get_file_info, key)
        return info.type == pafs.FileType.File

    def delete(self, key: str) -> None:
        """Delete the object ``key``; nothing if there is none."""
        def delete() -> None:
            try:
                self.fs.delete_file(key)
            except FileNotFoundError:
                pass

        self.call(f"deleting {self._name(key)}", delete)

    def delete_all(self, keys: list[str]) -> None:
        """Delete ``keys`` (several at a time: a phase holds hundreds of parts)."""
        stalls.each(self.delete, keys, TRANSFER_THREADS)

    def listing(self) -> dict[str, int]:
        """Every object below this directory: relative name -> size (no directories)."""
        from pyarrow import fs as pafs

        infos = self.call("listing", self.fs.get_file_info,
                          pafs.FileSelector(self.path, recursive=True, allow_not_found=True))
        base = self.path.rstrip("/") + "/"
        return {info.path[len(base):]: info.size for info in infos
                if info.type == pafs.FileType.File and info.path.startswith(base)}


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
    if _has_credentials(text):
        raise StorageError(f"{redact(text)}: credentials in the URI are not accepted; use the "
                           "environment or the node's role")
    shown = redact(text)  # options (?secret_key=...) are never printed either
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise StorageError(f"{shown}: a file:// URI must be file:///ABSOLUTE/PATH")
        return Path(parts.path)
    if scheme not in REMOTE_SCHEMES:
        raise StorageError(f"{shown}: unknown storage scheme {scheme!r}; use s3://BUCKET/PREFIX, "
                           "gs://BUCKET/PREFIX, file:///PATH or a path")
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise StorageError(f"{shown}: options in the URI are not accepted; the endpoint, region "
                           "and credentials come from the environment (AWS_ENDPOINT_URL_S3, "
                           "AWS_REGION, AWS_ACCESS_KEY_ID, ... or the node's role)")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not bucket:
        raise StorageError(f"{shown}: no bucket; use {scheme}://BUCKET/PREFIX")
    if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise StorageError(f"{shown}: the prefix must not hold empty, '.' or '..' parts")
    uri = f"{'gs' if scheme == 'gcs' else scheme}://{bucket}" + (f"/{prefix}" if prefix else "")
    fs = _filesystem(uri, scheme, bucket)
    remote = Remote(uri, fs, f"{bucket}/{prefix}" if prefix else bucket)
    _check_reachable(remote, bucket)
    return remote


#: ``scheme://USER:SECRET@...``: an access key (no ``/``, ``@`` or ``:``), a colon, then
#: anything (a secret may hold ``/``, ``@`` and ``:``) up to an ``@``.
_USER_SECRET = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*:[^@]*@", re.DOTALL)


def _has_credentials(text: str) -> bool:
    """Whether ``text`` carries credentials: ``USER:SECRET@`` (the secret holding anything)
    or ``USER@`` before the first ``/``."""
    rest = text.partition("://")[2]
    return bool(_USER_SECRET.match(text)) or "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]


def redact(text: str) -> str:
    """``text`` as it may be printed: credentials and options masked.

    ``s3://KEY:SE/CR@ET@bucket/run`` -> ``s3://***:***@bucket/run``: the access
    key and the whole secret, which may hold ``/``, ``@`` and ``:``, are masked
    up to the last ``@`` (a prefix holding ``@`` is masked with them: never
    too little). ``?...`` and ``#...`` (pyarrow reads keys from the query) are
    shown as ``?...``.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    if _USER_SECRET.match(text):
        rest = "***:***@" + rest.rpartition("@")[2]
    elif "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
        rest = "***@" + rest.partition("@")[2]
    options = re.search(r"[?#]", rest)
    if options:
        rest = rest[:options.start()] + options.group() + "..."
    return f"{scheme}://{rest}"


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
                    region = stalls.call(uri, f"s3://{bucket}", "finding the bucket's region",
                                         pafs.resolve_s3_region, bucket)
                except stalls.StoreStalled:
                    raise
                except OSError as exc:
                    raise StorageError(f"{uri}: {cause(exc, uri)}") from None
            if region:
                options["region"] = region
            return pafs.S3FileSystem(**options)
        fs, _ = pafs.FileSystem.from_uri(uri)
        return fs
    except (StorageError, stalls.StoreStalled):
        raise
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise StorageError(f"{uri}: {cause(exc, uri)}") from None


def _check_reachable(remote: Remote, bucket: str) -> None:
    """The bucket exists and may be listed; StorageError with the cause otherwise.

    Both the bucket's head and a listing are asked for: a refused head says
    only "403", a refused listing says why (unknown key, wrong secret).
    """
    from pyarrow import fs as pafs

    errors = []
    try:
        info = remote.call("looking up the bucket", remote.fs.get_file_info, bucket)
        if info.type == pafs.FileType.NotFound:
            raise StorageError(f"{remote.uri}: bucket {bucket!r} does not exist (or these "
                               "credentials may not see it)")
    except stalls.StoreStalled:
        raise
    except OSError as exc:
        errors.append(exc)
    try:
        remote.call("listing", remote.fs.get_file_info,
                    pafs.FileSelector(remote.path, allow_not_found=True))
    except stalls.StoreStalled:
        raise
    except OSError as exc:
        errors.append(exc)
    if errors:
        causes = [cause(exc, remote.uri) for exc in errors]
        raise StorageError(f"{remote.uri}: {min(causes, key=_specificity)}")


def _specificity(text: str) -> int:
    """Rank of a cause phrase: the more specific, the lower."""
    for rank, (_, phrase) in enumerate(_CAUSES):
        if text.startswith(phrase):
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


def cause(exc: BaseException, uri: str) -> str:
    """One short phrase for a store's error (the SDKs' messages run to lines)."""
    if isinstance(exc, stalls.StoreStalled):
        return exc.phrase
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
