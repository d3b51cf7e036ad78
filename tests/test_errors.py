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
