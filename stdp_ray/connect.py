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
           "start_local_ray", "LOCAL_HOST", "CONNECT_TIMEOUT_S"]

#: The interface a local Ray binds to.
LOCAL_HOST = "127.0.0.1"
#: Seconds to wait for a cluster's address to accept a connection.
CONNECT_TIMEOUT_S = 5.0
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

    ``HOST:PORT`` must accept a TCP connection within ``timeout`` seconds;
    ``ray://`` (Ray Client) addresses are not supported.

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
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise AddressError(f"{option} == {address!r}: unknown host ({exc.strerror})") from None
    except (OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, (TimeoutError, socket.timeout)) \
            else exc.strerror or type(exc).__name__
        raise AddressError(f"{option} == {address!r}: cannot connect ({reason}); is a Ray "
                           "head running there?") from None
    return address


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
