"""Joining a Ray cluster, or starting a local one: once, as late as possible, only where it
can work.

The command line checks the address first (:func:`check_address`: fast, before
anything is read or locked) and records where to connect
(:func:`configure`); the code that simulates starts Ray only when it needs it
(:func:`ensure_ray`), after its inputs are validated and its run directory is
locked, so that a refused command costs no Ray start-up.

A local Ray listens on 127.0.0.1 only (:func:`start_local_ray`). Ray on Linux
replaces a node address of 127.0.0.1 by the machine's routable address, and its
servers then bind the wildcard address (GCS server, raylet, workers, driver,
dashboard agent, metrics servers) or the routable one (runtime-env agent).
Ray's single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the default
on macOS and Windows) keeps 127.0.0.1, and with it every server binds 127.0.0.1;
a local start runs in that mode, and checks the address its Ray ended up on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Iterator

from .errors import EnvironmentFailure, InputError

logger = logging.getLogger(__name__)

__all__ = ["AddressError", "RayStartError", "check_address", "configure", "ensure_ray", "init_ray",
           "start_local_ray", "LOCAL_HOST", "CONNECT_TIMEOUT_S", "GRPC_REPLY_TIMEOUT_S"]

#: The interface a local Ray binds to.
LOCAL_HOST = "127.0.0.1"
#: Seconds to wait for a cluster's address to accept a connection.
CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait, once connected, for the address to answer as a gRPC server (Ray's GCS).
GRPC_REPLY_TIMEOUT_S = 3.0
#: What an HTTP/2 client sends first: the connection preface and an empty SETTINGS frame.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
#: The frame type of SETTINGS, which an HTTP/2 server sends first.
_SETTINGS_FRAME = 0x04
#: ``RAY_ADDRESS`` values that name no host to check.
_SPECIAL = ("auto", "local")

_settings: dict = {"address": None, "workers": None}
#: The signals whose handlers survive ``ray.init`` (which replaces SIGTERM's).
_KEPT_SIGNALS = ("SIGINT", "SIGTERM")
#: Ray's switch between a cluster-capable node (true: the default on Linux) and a
#: single-machine one that keeps the loopback address (false).
_CLUSTER_MODE_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class RayStartError(EnvironmentFailure):
    """Ray could not be started or joined (an overloaded or broken machine): the environment."""


class AddressError(InputError):
    """A cluster address that cannot be used (malformed, unsupported or unreachable)."""


def _resolve(address: str | None) -> tuple[str | None, str]:
    if address:
        return address, "--address"
    env = os.environ.get("RAY_ADDRESS")
    return (env or None), "RAY_ADDRESS"


def check_address(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """The address to join (``address``, else ``$RAY_ADDRESS``, else None: local), checked.

    ``HOST:PORT`` must accept a TCP connection within ``timeout`` seconds and
    answer as Ray's GCS does, as an HTTP/2 (gRPC) server, within
    :data:`GRPC_REPLY_TIMEOUT_S` (:func:`_check_grpc`): an endpoint that says
    nothing, or answers HTTP/1, is refused at once, before Ray tries it for
    tens of seconds. ``ray://`` (Ray Client) addresses are not supported.

    Raises
    ------
    AddressError
        Naming the option (or variable) and what is wrong.
    """
    address, option = _resolve(address)
    if address is None or address in _SPECIAL:
        return address
    if address.startswith("ray://"):
        raise AddressError(f"{option} == {address!r}: ray:// (Ray Client) addresses are not "
                           "supported; give the head's HOST:PORT (GCS port, default 6379) or "
                           "submit with `ray job submit`")
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"{option} == {address!r}, must be HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            problem = _check_grpc(sock)
    except socket.gaierror as exc:
        raise AddressError(f"{option} == {address!r}: unknown host ({exc.strerror})") from None
    except (OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, (TimeoutError, socket.timeout)) \
            else exc.strerror or type(exc).__name__
        raise AddressError(f"{option} == {address!r}: cannot connect ({reason}); is a Ray "
                           "head running there?") from None
    if problem:
        raise AddressError(f"{option} == {address!r}: not a Ray head: {problem}; give the "
                           "head's GCS address (HOST:PORT, default port 6379)")
    return address


def _check_grpc(sock: socket.socket, timeout: float | None = None) -> str | None:
    """None if the connected ``sock`` answers as an HTTP/2 server (gRPC: Ray's GCS), else why not.

    Sends HTTP/2's client preface and reads the server's first frame header,
    which must be a SETTINGS frame. With ``RAY_USE_TLS`` set the cluster speaks
    TLS first: nothing is checked.
    """
    if os.environ.get("RAY_USE_TLS", "0").strip().lower() not in ("", "0", "false"):
        return None
    wait = GRPC_REPLY_TIMEOUT_S if timeout is None else timeout
    sock.settimeout(wait)
    try:
        sock.sendall(_HTTP2_PREFACE)
        reply = b""
        while len(reply) < 9:
            data = sock.recv(9 - len(reply))
            if not data:
                break
            reply += data
    except (TimeoutError, socket.timeout):
        return f"no reply within {wait:g} s to a gRPC (HTTP/2) greeting"
    except OSError as exc:
        return f"the connection failed ({exc.strerror or type(exc).__name__})"
    if len(reply) >= 4 and reply[3] == _SETTINGS_FRAME:
        return None
    if reply.startswith(b"HTTP/"):
        return "it answers HTTP/1 (a web server?), not gRPC"
    if not reply:
        return "it closed the connection without a reply to a gRPC (HTTP/2) greeting"
    return "its reply is not gRPC (HTTP/2)"


def configure(address: str | None, workers: int | None) -> None:
    """Record where :func:`ensure_ray` connects (None: ``$RAY_ADDRESS``, else a local Ray)."""
    _settings.update(address=address, workers=workers)


def _python_handlers() -> dict:
    """This process's Python-level SIGINT/SIGTERM handlers (main thread only), by signal."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    handlers = {}
    for name in _KEPT_SIGNALS:
        num = getattr(signal, name)
        handler = signal.getsignal(num)
        if callable(handler) and handler not in (signal.default_int_handler,):
            handlers[num] = handler
    return handlers


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """Ray's single-machine mode for the block: a node address of 127.0.0.1 is kept.

    Ray's constant, read when Ray was imported, is what ``ray.init`` consults
    in this process; the variable reaches the processes it starts, so that
    any of them that looks this node's address up gets 127.0.0.1 as well (in
    Ray 2.60 they are handed 127.0.0.1 and bind it even without it). Both are
    put back on exit, so that a later ``ray start`` or cluster join from this
    process is not refused.
    """
    from ray._private import ray_constants

    saved_env = os.environ.get(_CLUSTER_MODE_VAR)
    saved = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_MODE_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(_CLUSTER_MODE_VAR, None)
        else:
            os.environ[_CLUSTER_MODE_VAR] = saved_env


def start_local_ray(workers: int | None = None, *, log_to_driver: bool = True) -> None:
    """Start a local Ray with ``workers`` CPUs (default: all) whose every server binds 127.0.0.1.

    No dashboard UI (Ray still runs its minimal dashboard process, for its
    metrics). Raises :class:`RayStartError` when Ray came up on another address
    than 127.0.0.1 (it is then shut down); Ray's own start failures propagate
    as Ray raises them (:func:`ensure_ray` turns them into :class:`RayStartError`).
    """
    import ray

    with _single_machine():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=log_to_driver,
                 _node_ip_address=LOCAL_HOST)
    host = ray.get_runtime_context().gcs_address.rpartition(":")[0].strip("[]")
    if host != LOCAL_HOST:
        ray.shutdown()
        raise RayStartError(f"the local Ray started on {host}, not {LOCAL_HOST}: it would listen "
                            f"beyond this machine (Ray {ray.__version__}); refused")


def ensure_ray() -> None:
    """Join the configured cluster, else start a local Ray on 127.0.0.1; no-op if running."""
    import ray

    if ray.is_initialized():
        return
    address, _ = _resolve(_settings["address"])
    # ray.init replaces the SIGTERM handler with one that aborts: a caller's own
    # handlers (the command line's, which stop training with a checkpoint) are put back.
    kept = _python_handlers()
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            start_local_ray(_settings["workers"])
    except (ConnectionError, ValueError, RayStartError):
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exceptions on a failed start
        text = str(exc).strip().splitlines()
        raise RayStartError(f"Ray did not start: {text[0] if text else type(exc).__name__}") \
            from exc
    import signal

    for num, handler in kept.items():
        signal.signal(num, handler)


def init_ray(address: str | None = None, workers: int | None = None) -> None:
    """Join ``address`` (or ``$RAY_ADDRESS``), else start a local Ray with ``workers`` CPUs, now.

    Does nothing when Ray is already initialised in this process. The
    address is checked first (:func:`check_address`). Commands do not call
    this: they :func:`configure` and let the code that simulates start Ray
    (:func:`ensure_ray`) once their inputs are checked.

    Parameters
    ----------
    address : str, optional
        A cluster's ``HOST:PORT`` or ``"auto"``. Default: ``$RAY_ADDRESS``;
        without it a local Ray is started on 127.0.0.1 (:func:`start_local_ray`).
    workers : int, optional
        CPUs of the local Ray (default: every CPU of this machine). Ignored
        when joining a cluster.
    """
    check_address(address)
    configure(address, workers)
    ensure_ray()
