#!/usr/bin/env python
"""Copy the small, shippable files of a run, ensemble or sweep directory into results/.

    python scripts/ship_results.py RUN_ENSEMBLE_OR_SWEEP_DIR results/NAME [--overwrite]

Run `stdp-ray report DIR` first. A run directory gives ``config.json``,
``metrics.json``, ``predictions.parquet``, ``assignments.parquet``, the
learning curve where there is one (``curve/curve.parquet`` and its figures; a
run with a learning curve ships without ``metrics.json``: a training that goes
on, stopped for the copy, whose results are its scored snapshots),
the network's ``network.json`` (its provenance: training time and commit; not its
arrays) and ``report/`` (figures, ``training_summary.csv``, ``report.md``); an ensemble root
gives ``ensemble.json``, ``metrics.json``, ``ensemble_predictions.parquet``,
``report/`` and each member's files under ``seed=<s>/`` (so the ensemble
report's links to member reports keep working); a sweep root gives
``sweep.json``, ``sweep.parquet``, ``sweep.png``, ``report/`` and each finished
run's files at its point's path (``nu_post=0.01/seed=1/``). Responses,
checkpoints and
networks stay behind (networks are shipped with ``stdp-ray`` itself under
``results/networks/`` when wanted). The destination is built under a temporary
name and renamed into place; an existing one is replaced only with
``--overwrite``. A source that a process is still working on (it holds the
directory's lock) or whose report is older than its ``metrics.json`` is refused.

The source may be a URI (``s3://BUCKET/PREFIX``, ``gs://...``): its committed
content is pulled into a private mirror under the directory's lease, so a
source that a command is still writing is refused there too.
"""
import argparse
import logging
import shutil
import sys
from pathlib import Path

from stdp_ray import artifact, atomic, ensembles, leases, location, locks, report, rundir

logger = logging.getLogger("ship_results")

#: A run's learning curve: it scores a run whose training goes on (no metrics.json yet).
CURVE_TABLE = f"{rundir.CURVE_DIR}/{rundir.CURVE_FILE}"
RUN_FILES = (rundir.RUN_CONFIG_FILE, rundir.METRICS_FILE, rundir.PREDICTIONS_FILE,
             rundir.ASSIGNMENTS_FILE, CURVE_TABLE,
             f"{rundir.CURVE_DIR}/{rundir.CURVE_PNG}",
             f"{rundir.CURVE_DIR}/{Path(rundir.CURVE_PNG).with_suffix('.svg')}",
             f"{rundir.CURVE_DIR}/{rundir.SNAPSHOTS_PNG}",
             # the network's provenance (its training time and commit), not its arrays
             f"{rundir.NETWORK_DIR}/{artifact.NETWORK_JSON}")
ENSEMBLE_FILES = (rundir.ENSEMBLE_FILE, rundir.ENSEMBLE_METRICS_FILE,
                  rundir.ENSEMBLE_PREDICTIONS_FILE)
SWEEP_FILES = (rundir.SWEEP_FILE, rundir.SWEEP_SUMMARY_FILE, rundir.SWEEP_PNG,
               str(Path(rundir.SWEEP_PNG).with_suffix(".svg")))


def _copy(src: Path, dst: Path, names, required) -> None:
    for name in names:
        if (src / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)
        elif name in required:
            raise FileNotFoundError(f"{src / name}: missing (is the run finished?)")
    rep = src / rundir.REPORT_DIR
    if not (rep / rundir.REPORT_MD).is_file():
        raise FileNotFoundError(f"{rep / rundir.REPORT_MD}: missing; run `stdp-ray report "
                                f"{src}` first")
    for scored in (src / rundir.METRICS_FILE, src / CURVE_TABLE):
        if scored.is_file() and scored.stat().st_mtime > (rep / rundir.REPORT_MD).stat().st_mtime:
            raise ValueError(f"{rep / rundir.REPORT_MD}: older than {scored}; rerun `stdp-ray "
                             f"report` on {src}")
    shutil.copytree(rep, dst / rundir.REPORT_DIR,
                    ignore=shutil.ignore_patterns(".*"))


def ship(src, dest: Path, overwrite: bool = False) -> Path:
    """Copy ``src``'s shippable files to ``dest`` (atomically); returns ``dest``.

    ``src`` is a path or a run directory URI; ``dest`` a local path.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise FileExistsError(f"{dest}: exists and is not a directory")
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest}: exists; pass --overwrite to replace it")
    # Hold the source's lock (on a bucket, its lease): a directory still being worked on is
    # refused. Nothing is written to the source.
    with location.open_location(src, write=True) as local:
        return _ship(local, dest)


def _ship(src: Path, dest: Path) -> Path:
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such directory")
    with locks.directory_lock(src), atomic.atomic_directory(dest) as tmp:
        if report.is_sweep_root(src):
            _copy(src, tmp, SWEEP_FILES, SWEEP_FILES[:2])
            summary = rundir.read_sweep_summary(src, list(rundir.read_sweep_settings(src).grid))
            for run in report.sweep_run_dirs(src, summary.column("run_dir").to_pylist()):
                _copy(run, tmp / run.relative_to(src), RUN_FILES, (rundir.RUN_CONFIG_FILE,
                                                                   rundir.METRICS_FILE))
        elif report.is_ensemble_root(src):
            seeds = rundir.read_ensemble_settings(src).seeds
            seeds = ensembles.check_seeds(seeds if isinstance(seeds, list) else "?",
                                         shown=f"{seeds!r} in {src / rundir.ENSEMBLE_FILE}")
            _copy(src, tmp, ENSEMBLE_FILES, ENSEMBLE_FILES)
            for seed in seeds:
                member = rundir.member_dir(src, seed)
                _copy(member, tmp / member.name, RUN_FILES, (rundir.METRICS_FILE,))
        else:
            # A run is scored by its metrics, or (a training that goes on) by its curve.
            _copy(src, tmp, RUN_FILES, (rundir.RUN_CONFIG_FILE,) if (src / CURVE_TABLE).is_file()
                  else (rundir.RUN_CONFIG_FILE, rundir.METRICS_FILE))
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", help="run directory, ensemble or sweep root (a path or URI)")
    p.add_argument("dest", type=Path, help="destination, e.g. results/NAME")
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        dest = ship(args.src, args.dest, args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as exc:
        logger.error("%s", exc)
        return 2
    except leases.DirectoryBusyError as exc:
        logger.error("%s", exc)
        return 1
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    logger.info("shipped %d files (%.1f MB) to %s", len(files),
                sum(p.stat().st_size for p in files) / 1e6, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
