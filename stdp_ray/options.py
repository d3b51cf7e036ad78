"""How a command runs: one frozen record beside the model's :class:`~stdp_ray.config.Config`.

A :class:`~stdp_ray.config.Config` says *what* is simulated (the model, its
constants, the engine); :class:`RunOptions` says *how much* and *how*: how
many samples, in chunks of what size, on how many workers, where MNIST is,
whether to show progress. Results depend on the Config and the seed, and on
the ``samples`` counts; never on the chunk size, the workers, the threads or
the progress bar.

Every command of :mod:`stdp_ray.api` is a function of (location, Config,
RunOptions); the command line builds the record from its options
(:func:`stdp_ray.cli` maps ``--chunk-size`` to ``chunk_size`` and so on). A
field a command does not use is ignored by it. The record is validated once,
when it is made, with messages naming the command-line option.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import InputError

__all__ = ["RunOptions", "OptionError", "DEFAULT_CHECKPOINT_EVERY",
           "DEFAULT_OBSERVE_SAMPLES", "option_names", "split_options"]

#: Training samples between checkpoints.
DEFAULT_CHECKPOINT_EVERY = 1000
#: Training images the labels are assigned from.
DEFAULT_OBSERVE_SAMPLES = 10_000


class OptionError(InputError):
    """A run option out of its range (names the option as the command line spells it)."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a command runs; every field has a default.

    Attributes
    ----------
    samples : int or None
        Training samples in all (train, run, ensemble, sweep: required there),
        or the images an observe or test presents (None: observe 10,000, test
        all 10,000).
    observe_samples : int or None
        Training images the labels come from in ``run``, ``ensemble`` and
        ``sweep`` (None: all 60,000). Default 10,000.
    test_samples : int or None
        Test images scored (None: all 10,000).
    chunk_size : int or None
        Samples per chunk (one Ray task, one Parquet part). None (the
        default): the size a phase's manifest records when the phase has
        begun (so it resumes with its chunks), else the scale-out model's
        choice for the network's size, its engine, the images and the workers
        (:func:`stdp_ray.scaling.default_chunk_size`).
    workers : int or None
        Most chunks in flight, and the CPUs of a local Ray (None: every CPU
        of the cluster).
    threads : int
        Threads of each training actor, reserved as its CPUs. Default 1.
    checkpoint_every : int
        Training samples between checkpoints. Default 1,000.
    eval_every : int or None
        Keep a snapshot every that many training samples (learning curves).
    label_samples : tuple of int or None
        Label-set sizes of a learning curve (None: 10,000).
    snapshots : tuple of int or None
        The snapshots a learning curve scores (None: all).
    overwrite : bool
        Discard responses computed earlier instead of resuming.
    progress : bool
        Show progress bars (only on a terminal).
    data_dir : Path or None
        The data set's directory (None: :func:`stdp_ray.data.default_data_dir`:
        for MNIST ``$STDP_RAY_DATA``, else ``~/.local/share/stdp_ray/mnist``).
    dataset : str or None
        The data set (``--dataset``: ``mnist``, ``fashion-mnist``, ``kmnist``,
        or any name with ``verify=False``). None: the run's, MNIST for a new
        run.
    verify : bool
        Check the files against the data set's published MD5s (``--no-verify``
        turns it off). Default True.
    address : str or None
        The Ray cluster to join (None: ``$RAY_ADDRESS``, else a local Ray).
    """

    samples: int | None = None
    observe_samples: int | None = DEFAULT_OBSERVE_SAMPLES
    test_samples: int | None = None
    chunk_size: int | None = None
    workers: int | None = None
    threads: int = 1
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    eval_every: int | None = None
    label_samples: tuple[int, ...] | None = None
    snapshots: tuple[int, ...] | None = None
    overwrite: bool = False
    progress: bool = True
    data_dir: Path | None = None
    dataset: str | None = None
    verify: bool = True
    address: str | None = None

    def __post_init__(self) -> None:
        for name in ("samples", "observe_samples", "test_samples", "chunk_size", "workers",
                     "eval_every"):
            _check_count(name, getattr(self, name), optional=True)
        for name in ("threads", "checkpoint_every"):
            _check_count(name, getattr(self, name), optional=False)
        for name in ("label_samples", "snapshots"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                    raise OptionError(f"{_option(name)} == {value!r}, must be a list of "
                                      "integers >= 1")
                value = tuple(value)
                if not value:
                    raise OptionError(f"{_option(name)} is empty, must name >= 1 count")
                for item in value:
                    _check_count(name, item, optional=False)
                object.__setattr__(self, name, value)
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", Path(os.fspath(self.data_dir)))
        for name in ("overwrite", "progress", "verify"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(f"{name} == {getattr(self, name)!r}, must be True or False")
        if self.dataset is not None:
            from .data import check_dataset

            check_dataset(self.dataset, self.verify)

    def replace(self, **changes: Any) -> "RunOptions":
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def required_samples(self) -> int:
        """``samples``, which training needs.

        Raises
        ------
        OptionError
            If it is None.
        """
        if self.samples is None:
            raise OptionError("--samples is required: the training samples in all (one "
                              "epoch: 60000)")
        return self.samples


def _option(name: str) -> str:
    """The command line's spelling of a field."""
    return "--" + name.replace("_", "-")


def _check_count(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{_option(name)} == {value!r}, must be an integer >= 1")
    if value < 1:
        raise OptionError(f"{_option(name)} == {value}, must be >= 1")


def option_names() -> tuple[str, ...]:
    """The fields of :class:`RunOptions`."""
    return tuple(f.name for f in dataclasses.fields(RunOptions))


def split_options(options: RunOptions | None,
                  keywords: Mapping[str, Any]) -> tuple[RunOptions, dict[str, Any]]:
    """``options`` with the keywords that name its fields applied, and the other keywords.

    The API's functions take run options and Config fields as keywords
    (``samples=1000, n_neurons=100``); this tells them apart.
    """
    names = set(option_names())
    mine = {k: v for k, v in keywords.items() if k in names}
    rest = {k: v for k, v in keywords.items() if k not in names}
    base = options if options is not None else RunOptions()
    if not isinstance(base, RunOptions):
        raise TypeError(f"options == {options!r}, must be a RunOptions or None")
    return (base.replace(**mine) if mine else base), rest
