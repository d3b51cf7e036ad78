"""The error family: one base, each kind carrying the exit status the CLI returns."""

from __future__ import annotations

import pytest

from stdp_ray import errors
from stdp_ray.cli import main
from stdp_ray.config import ConfigError
from stdp_ray.connect import AddressError, RayStartError
from stdp_ray.curve import CurveError
from stdp_ray.engines.base import UnsafeDirectoryError
from stdp_ray.engines.kernels import KernelUnavailable
from stdp_ray.evaluation import PhaseError
from stdp_ray.fetch import FetchError
from stdp_ray.idx import MnistFormatError
from stdp_ray.leases import DirectoryBusyError, LeaseLostError
from stdp_ray.reading import ArtifactError
from stdp_ray.uris import StorageError
from stdp_ray.checkpoints import TrainingError
from stdp_ray.workflow import RunError


@pytest.mark.parametrize("cls, status, builtin", [
    (ConfigError, errors.EXIT_USAGE, ValueError),
    (AddressError, errors.EXIT_USAGE, ValueError),
    (CurveError, errors.EXIT_USAGE, ValueError),
    (PhaseError, errors.EXIT_USAGE, ValueError),
    (MnistFormatError, errors.EXIT_USAGE, ValueError),
    (ArtifactError, errors.EXIT_USAGE, ValueError),
    (StorageError, errors.EXIT_USAGE, ValueError),
    (TrainingError, errors.EXIT_USAGE, ValueError),
    (RunError, errors.EXIT_USAGE, ValueError),
    (DirectoryBusyError, errors.EXIT_FAILURE, RuntimeError),
    (LeaseLostError, errors.EXIT_FAILURE, RuntimeError),
    (FetchError, errors.EXIT_FAILURE, RuntimeError),
    (KernelUnavailable, errors.EXIT_FAILURE, RuntimeError),
    (RayStartError, errors.EXIT_ENVIRONMENT, OSError),
    (UnsafeDirectoryError, errors.EXIT_ENVIRONMENT, OSError),
])
def test_every_error_is_one_family_with_its_exit_status(cls, status, builtin):
    assert issubclass(cls, errors.StdpRayError)
    assert issubclass(cls, builtin)
    assert cls.exit_status == status


def test_the_cli_maps_a_new_error_through_its_base_alone(monkeypatch, caplog):
    class NewKind(errors.BusyError):
        """An error class the CLI has never heard of."""

    def fail(args):
        raise NewKind("somewhere: busy in a new way")

    monkeypatch.setattr("stdp_ray.cli._run", fail)
    assert main(["config", "show"]) == errors.EXIT_FAILURE
    assert "somewhere: busy in a new way" in caplog.text


def test_exit_statuses_are_distinct_and_documented():
    statuses = (errors.EXIT_OK, errors.EXIT_FAILURE, errors.EXIT_USAGE, errors.EXIT_ENVIRONMENT,
                errors.EXIT_INTERRUPTED)
    assert len(set(statuses)) == len(statuses)
    for status in statuses[1:]:
        assert f"\n  {status} " in errors.EXIT_CODES_HELP


# ---------------------------------------------------------------------------
# Failures inside Ray tasks and actors (errors.from_ray)
# ---------------------------------------------------------------------------
def _task_error(cause: BaseException):
    """The error ``ray.get`` raises for a task of the training actor that raised ``cause``."""
    from ray.exceptions import RayTaskError

    traceback = ("\x1b[36mray::TrainerActor.train_until()\x1b[39m (pid=1, ip=127.0.0.1)\n"
                 "  File \"trainer.py\", line 1\n" f"{type(cause).__name__}: {cause}")
    error = RayTaskError("TrainerActor.train_until", traceback, cause,
                         proctitle="ray::TrainerActor.train_until()", pid=1, ip="127.0.0.1")
    return error.as_instanceof_cause()


@pytest.mark.parametrize("cause, cls, status, message", [
    (OSError(28, "No space left on device", "/r/train/checkpoints/.ckpt-3.x/arrays.npz"),
     errors.EnvironmentFailure, errors.EXIT_ENVIRONMENT,
     r"^environment failure: /r/train/checkpoints/\.ckpt-3\.x/arrays\.npz: No space left on "
     r"device$"),
    (PermissionError(13, "Permission denied", "/r/train/stats"), errors.EnvironmentFailure,
     errors.EXIT_ENVIRONMENT, r"^environment failure: /r/train/stats: Permission denied$"),
    (OSError("s3://b/r: the store did not answer"), errors.EnvironmentFailure,
     errors.EXIT_ENVIRONMENT, r"^environment failure: s3://b/r: the store did not answer$"),
    (LeaseLostError("s3://b/r: now held by 'x'"), LeaseLostError, errors.EXIT_FAILURE,
     r"^s3://b/r: now held by 'x'$"),
    (ConfigError("dt_ms == 0, must be > 0"), ConfigError, errors.EXIT_USAGE,
     r"^dt_ms == 0, must be > 0$"),
    (ZeroDivisionError("division by zero"), errors.TaskFailure, errors.EXIT_FAILURE,
     r"^a Ray task or actor failed: TrainerActor\.train_until: ZeroDivisionError: division "
     r"by zero$"),
])
def test_a_failure_inside_a_ray_task_is_the_error_it_stands_for_in_one_plain_line(
        cause, cls, status, message):
    failure = errors.from_ray(_task_error(cause))
    assert isinstance(failure, cls) and failure.exit_status == status
    assert "\x1b" not in str(failure) and "\n" not in str(failure)
    assert __import__("re").search(message, str(failure)), str(failure)


def test_an_error_that_is_not_ray_s_is_left_as_it_is():
    error = OSError(28, "No space left on device", "/x")
    assert errors.from_ray(error) is error


@pytest.mark.parametrize("cause, status, message", [
    (OSError(28, "No space left on device", "/r/train/checkpoints/x/arrays.npz"),
     errors.EXIT_ENVIRONMENT, "environment failure: /r/train/checkpoints/x/arrays.npz: No space "
                              "left on device"),
    (ConfigError("dt_ms == 0, must be > 0"), errors.EXIT_USAGE, "dt_ms == 0, must be > 0"),
    (ZeroDivisionError("division by zero"), errors.EXIT_FAILURE,
     "a Ray task or actor failed: TrainerActor.train_until: ZeroDivisionError: division by zero"),
])
def test_the_cli_reports_a_ray_task_s_failure_as_its_cause_in_one_line(monkeypatch, caplog,
                                                                       cause, status, message):
    def fail(args):
        raise _task_error(cause)

    monkeypatch.setattr("stdp_ray.cli._run", fail)
    assert main(["config", "show"]) == status
    errors_logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors_logged == [message]
