"""The errors stdp-ray raises on purpose: one base, each kind carrying its exit status.

Every failure the package expects (bad input, a busy run directory, a failed
download, ...) is a :class:`StdpRayError`. The command line maps an error to
its exit status through :attr:`StdpRayError.exit_status` alone, so a new error
class picks its status by picking its base here; nothing else needs to know it.

The kinds also derive from the built-in exception a Python caller would
expect (:class:`InputError` is a :class:`ValueError`, :class:`BusyError` a
:class:`RuntimeError`), so ``except ValueError`` keeps working in notebooks.

Exit statuses (``stdp-ray --help`` prints them, :data:`EXIT_CODES_HELP`):

======  ==============================================================
0       success
1       a Ray task or actor failed, a download failed, or another
        process holds the run directory (its lock or its lease)
2       bad input: an option, a file or directory, a network artifact,
        an address, a run directory URI that cannot be used
3       the environment failed: disk full, read-only, permissions
130     interrupted (Ctrl-C, SIGTERM); training wrote a checkpoint
======  ==============================================================

A failure inside a Ray task or actor reaches the driver wrapped in one of
Ray's errors, whose message is the worker's traceback with terminal colour
codes. :func:`from_ray` is the one place that unwraps it into the error it
stands for (the worker's own :class:`StdpRayError`, an :class:`EnvironmentFailure`
for an ``OSError``, else a :class:`TaskFailure`), each one line;
training, evaluation (and so ensembles and sweeps) and the command line use it.
"""

from __future__ import annotations

import re
import sys

__all__ = ["EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_ENVIRONMENT", "EXIT_INTERRUPTED",
           "EXIT_CODES_HELP", "StdpRayError", "InputError", "BusyError", "ExternalError",
           "EnvironmentFailure", "TaskFailure", "from_ray", "one_line", "os_error_message",
           "plain"]

EXIT_OK = 0
#: A Ray task or actor failed, a download failed, or another stdp-ray process holds the
#: directory (its lock, or its lease on object storage).
EXIT_FAILURE = 1
#: Bad input: an option, a file, a directory, an address.
EXIT_USAGE = 2
#: The environment failed: disk full, read-only file system, permissions.
EXIT_ENVIRONMENT = 3
#: Interrupted (SIGINT/SIGTERM); training saved a checkpoint to resume from.
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit status:
  0    success
  1    a Ray task or actor failed, a download failed, or another stdp-ray
       process holds the run directory (its lock, or its lease on a bucket)
  2    bad input: an option, a file or directory, a network artifact, an
       unreachable or unsupported --address, a run directory URI that cannot
       be used (unknown scheme, unreachable endpoint, missing bucket, missing
       or refused credentials)
  3    the environment failed: disk full, read-only file system, permission
       denied (OSError)
  130  interrupted (Ctrl-C, SIGTERM): training stops after its current
       sample, writes a checkpoint and says how to resume
Failures are one line; --verbose adds the traceback."""


class StdpRayError(Exception):
    """Base of every error stdp-ray raises on purpose; its message is one line.

    Attributes
    ----------
    exit_status : int
        The command line's exit status for this error (class attribute).
    """

    exit_status: int = EXIT_FAILURE


class InputError(StdpRayError, ValueError):
    """Bad input: an option, a file, a directory, a network, an address (exit status 2)."""

    exit_status = EXIT_USAGE


class BusyError(StdpRayError, RuntimeError):
    """Another process holds what this one needs, or took it over (exit status 1)."""

    exit_status = EXIT_FAILURE


class ExternalError(StdpRayError, RuntimeError):
    """Something outside the package failed: a download, a compiler (exit status 1)."""

    exit_status = EXIT_FAILURE


class EnvironmentFailure(StdpRayError, OSError):
    """The machine failed: a process that cannot start, a disk (exit status 3)."""

    exit_status = EXIT_ENVIRONMENT


class TaskFailure(ExternalError):
    """A Ray task or actor failed, for a reason that is no :class:`StdpRayError` (exit status 1)."""


#: Terminal control sequences (colours, cursor moves): ESC [ ... final byte, or ESC and one byte.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
#: Other control characters, shown as nothing (tabs and newlines kept).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes or other control characters."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, without colour codes (its type's name if empty)."""
    text = plain(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def os_error_message(exc: OSError) -> str:
    """``FILE: reason`` (``FILE -> OTHER: reason`` for a rename) for an ``OSError`` that names
    a file, else its first line."""
    if exc.strerror and exc.filename is not None:
        names = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
        return plain(f"{names}: {exc.strerror}")
    return one_line(exc)


def _ray_exceptions():
    """Ray's exceptions module if a command already imported it (this module never imports Ray)."""
    return sys.modules.get("ray.exceptions")


def from_ray(exc: BaseException) -> BaseException:
    """The error a Ray failure stands for, one line; any other ``exc`` as it is.

    - a task's or actor's :class:`StdpRayError` (its cause): that error itself;
    - its ``OSError`` (a full disk, a read-only file system, ...): an
      :class:`EnvironmentFailure` naming the file and the reason
      (``PATH: No space left on device``), exit status 3;
    - anything else (another exception, an actor that died, a lost object):
      a :class:`TaskFailure` naming the task and the first line of the cause,
      exit status 1.

    Colour codes never reach the message. The result's ``__cause__`` is ``exc``
    (``--verbose`` shows the worker's traceback).
    """
    exceptions = _ray_exceptions()
    if exceptions is None or not isinstance(exc, exceptions.RayError):
        return exc
    cause: BaseException = exc
    where = ""
    while isinstance(cause, exceptions.RayTaskError):
        where = where or _task_name(cause)
        inner = getattr(cause, "cause", None)
        if inner is None or inner is cause:
            break
        cause = inner
    if isinstance(cause, StdpRayError) and not isinstance(cause, exceptions.RayError):
        return _chained(type(cause), one_line(cause), cause, exc)
    if isinstance(cause, OSError) and not isinstance(cause, exceptions.RayError):
        failure = EnvironmentFailure(f"environment failure: {os_error_message(cause)}")
        failure.__cause__ = exc
        return failure
    task = f"{where}: " if where else ""
    reason = one_line(cause)
    if cause is not exc and not isinstance(cause, exceptions.RayError):
        reason = f"{type(cause).__name__}: {reason}"
    failure = TaskFailure(f"a Ray task or actor failed: {task}{reason}")
    failure.__cause__ = exc
    return failure


def _task_name(exc: BaseException) -> str:
    """``TrainerActor.train_until``: the task or actor method a Ray task error names."""
    name = exc.__dict__.get("function_name")
    if isinstance(name, str) and name:
        return plain(name).strip()
    found = re.search(r"ray::([\w.]+)\(", plain(str(exc)))
    return found.group(1) if found else ""


def _chained(cls: type, message: str, cause: BaseException, exc: BaseException) -> BaseException:
    """``cause`` itself if its message is already ``message``, else ``cls(message)``; chained."""
    if str(cause) != message:
        try:
            cause = cls(message)
        except TypeError:  # a constructor of another signature: keep the error, message as is
            pass
    cause.__cause__ = exc
    return cause
