"""Calls to an object store, bounded in time and interruptible.

pyarrow's S3 client ignores its request timeout on Linux: a store that stops
answering (a stopped server, a network path that drops packets) holds the
calling thread for minutes, and a thread blocked in pyarrow's C++ code never
sees Ctrl-C. So every store call of the package runs in a daemon thread of its
own (:func:`call`); the caller waits for it in short slices, so that SIGINT
raises KeyboardInterrupt in the main thread at once, and gives up after
:func:`store_timeout` seconds (:data:`TIMEOUT_VARIABLE`, default
:data:`DEFAULT_TIMEOUT_S`; plus one second per MiB the call moves) with
:class:`StoreStalled` (exit status 3), naming the store and how long it has
not answered. While a call a caller gave up on is still blocked, every further
call to the same store fails at once with the same error.

pyarrow's own exit handler waits for the requests in flight: a process that
still has store calls running when it exits ends without waiting for them
(:func:`set_exit_status` gives the status it ends with).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import sys
import threading
import time
from typing import Callable, Iterable, TypeVar

from .errors import EnvironmentFailure, InputError

logger = logging.getLogger(__name__)

__all__ = ["StoreStalled", "call", "each", "store_timeout", "set_exit_status", "running",
           "TIMEOUT_VARIABLE", "DEFAULT_TIMEOUT_S", "BYTES_PER_SECOND"]

#: The environment variable that sets the stall limit, in seconds.
TIMEOUT_VARIABLE = "STDP_RAY_STORE_TIMEOUT_S"
#: Seconds a store call may go unanswered before it counts as stalled: half the lease time
#: (stdp_ray.leases.LEASE_SECONDS), so that a stalled renewal is seen before the lease expires.
DEFAULT_TIMEOUT_S = 30.0
#: The slowest transfer rate that is not a stall: each call gets one more second per MiB.
BYTES_PER_SECOND = 1 << 20
#: The longest slice the caller waits before it looks at the clock (and sees a signal).
_SLICE_S = 0.25
_LIMITS = (0.1, 3600.0)

T = TypeVar("T")


class StoreStalled(EnvironmentFailure):
    """An object store did not answer within the stall limit (exit status 3).

    Attributes
    ----------
    phrase : str
        The cause without the URI (``the store ... has not answered for 30 s``).
    """

    def __init__(self, message: str, phrase: str = ""):
        super().__init__(message)
        self.phrase = phrase or message

    def __reduce__(self):
        return (type(self), (str(self), self.phrase))


def store_timeout() -> float:
    """The stall limit in seconds: ``$STDP_RAY_STORE_TIMEOUT_S``, else :data:`DEFAULT_TIMEOUT_S`.

    Raises
    ------
    InputError
        If the variable is not a number of seconds in [0.1, 3600].
    """
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text[:32])
    except ValueError:
        value = float("nan")
    if not _LIMITS[0] <= value <= _LIMITS[1]:
        raise InputError(f"{TIMEOUT_VARIABLE} == {text[:32]!r}, must be seconds in "
                         f"[{_LIMITS[0]:g}, {_LIMITS[1]:g}]")
    return value


class _Calls:
    """The store calls of this process still running, and those their callers gave up on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.running: dict[int, tuple[str, float, str]] = {}  # id -> (store, start, what)
        self.abandoned: dict[int, tuple[str, float, str]] = {}
        self.exit_status = 1
        self.hooked = False

    def start(self, store: str, what: str) -> int:
        with self.lock:
            if not self.hooked:
                # Registered after pyarrow's own exit handler (pyarrow is imported by now),
                # so it runs first.
                atexit.register(_exit_without_waiting)
                self.hooked = True
            key = next(self.counter)
            self.running[key] = (store, time.monotonic(), what)
            return key

    def finish(self, key: int) -> None:
        with self.lock:
            self.running.pop(key, None)
            self.abandoned.pop(key, None)

    def abandon(self, key: int, done: threading.Event) -> None:
        with self.lock:
            if not done.is_set() and key in self.running:
                self.abandoned[key] = self.running[key]

    def stalled_since(self, store: str) -> tuple[float, str] | None:
        """The start and the description of the oldest abandoned call to ``store``."""
        with self.lock:
            calls = [(start, what) for s, start, what in self.abandoned.values() if s == store]
        return min(calls) if calls else None


_CALLS = _Calls()


def running() -> int:
    """How many store calls of this process are still running."""
    with _CALLS.lock:
        return len(_CALLS.running)


def set_exit_status(status: int) -> None:
    """The status this process exits with if it must end without waiting for store calls."""
    _CALLS.exit_status = int(status)


def _stalled(uri: str, store: str, shown: str, since: float, what: str,
             limit: float) -> StoreStalled:
    elapsed = time.monotonic() - since
    phrase = (f"the store{shown} has not answered for {elapsed:.0f} s ({what}): stalled or "
              f"unreachable (limit {limit:g} s, {TIMEOUT_VARIABLE})")
    return StoreStalled(f"{uri}: {phrase}", phrase)


def call(uri: str, store: str, what: str, fn: Callable[..., T], *args, nbytes: int = 0,
         shown: str = "") -> T:
    """``fn(*args)``, a call to the store ``store``, bounded in time and interruptible.

    Parameters
    ----------
    uri : str
        The directory the call is about (named in the error).
    store : str
        The store (``s3://bucket``): a call given up on blocks later calls to it.
    what : str
        The operation, named in the error (``put part-00000.parquet``).
    nbytes : int
        Bytes the call moves: one more second of patience per MiB.
    shown : str
        Where the store is, shown after "the store" (`` (http://127.0.0.1:9000)``).

    Raises
    ------
    StoreStalled
        If the call did not return within :func:`store_timeout` seconds (plus
        the allowance of ``nbytes``), or an earlier call to ``store`` is still
        blocked. The call goes on in its thread; its result is dropped.
    KeyboardInterrupt
        At once on SIGINT, the call likewise left to its thread.
    """
    limit = store_timeout()
    stuck = _CALLS.stalled_since(store)
    if stuck is not None:
        raise _stalled(uri, store, shown, stuck[0], stuck[1], limit)
    limit += nbytes / BYTES_PER_SECOND
    box: dict = {}
    done = threading.Event()
    key = _CALLS.start(store, what)

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
        finally:
            done.set()
            _CALLS.finish(key)

    t0 = time.monotonic()
    threading.Thread(target=run, name=f"stdp-ray-store {what}"[:60], daemon=True).start()
    try:
        while not done.wait(_SLICE_S):
            if time.monotonic() - t0 >= limit:
                _CALLS.abandon(key, done)
                if not done.is_set():
                    raise _stalled(uri, store, shown, t0, what, limit)
    except BaseException:  # the stall, or KeyboardInterrupt: the call is left to its thread
        _CALLS.abandon(key, done)
        raise
    if "error" in box:
        error = box.pop("error")
        raise error
    return box["value"]


def each(fn: Callable[[T], object], items: Iterable[T], threads: int) -> None:
    """``fn(item)`` for every item, ``threads`` at a time, in daemon threads.

    Each ``fn`` is expected to bound its own store calls (:func:`call`). The
    caller waits in short slices (SIGINT reaches it at once); the first error
    stops the others taking new items and is raised.
    """
    items = list(items)
    if len(items) <= 1 or threads <= 1:
        for item in items:
            fn(item)
        return
    source = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            with lock:
                item = next(source, _END)
            if item is _END:
                return
            try:
                fn(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                errors.append(exc)
                stop.set()
                return

    workers = [threading.Thread(target=work, name="stdp-ray-transfer", daemon=True)
               for _ in range(min(threads, len(items)))]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(_SLICE_S)
    except BaseException:
        stop.set()
        raise
    if errors:
        raise errors[0]


_END = object()


def _exit_without_waiting() -> None:
    """At exit with store calls still running: end now (pyarrow's exit handler would wait)."""
    with _CALLS.lock:
        left = list(_CALLS.running.values())
    if not left:
        return
    ray = sys.modules.get("ray")
    try:
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    except Exception:  # noqa: BLE001 - ending anyway
        pass
    logger.debug("exiting without waiting for %d store call(s) (%s)", len(left),
                 ", ".join(what for _, _, what in left))
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - closed
            pass
    os._exit(_CALLS.exit_status)
