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
"""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_ENVIRONMENT", "EXIT_INTERRUPTED",
           "EXIT_CODES_HELP", "StdpRayError", "InputError", "BusyError", "ExternalError",
           "EnvironmentFailure"]

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
