"""Bring run directories, ensemble roots and sweep roots to the current layout, in place.

    python scripts/migrate_results.py [--check] [DIR ...]      (default: results)

Each DIR is searched for run directories (``config.json``), ensemble roots
(``ensemble.json``) and sweep roots (``sweep.json``). What differs from what
``stdp-ray run``, ``ensemble`` and ``sweep`` write today is brought to their
layout (:mod:`stdp_ray.rundir`):

- ensemble members ``seed-<n>/`` are renamed ``seed=<n>/``, and the root's
  ``metrics.json`` is rewritten with the new names and its headline ``accuracy``;
- a phase's manifest at an older place moves to ``_manifests/`` (the older
  places: :mod:`stdp_ray.rundir.legacy`);
- Parquet files without stdp-ray's key-value metadata get it (schema version,
  units, and the run's identity where the writer records one);
- a report is regenerated (as ``stdp-ray report`` writes it) where every
  input of it is present; otherwise its
  ``report.md`` keeps its numbers and gets the directory's current name and
  path (as given on the command line, never an absolute path of the machine
  that wrote it) and the members' current names. A sweep root without a report
  gets one.

Every write is atomic (a rename, or :mod:`stdp_ray.atomic`'s writers) and
the script is idempotent: a second run changes nothing. Each directory is
migrated under its shared lock, so never while a command writes it (and no
``.lock`` is left where there was none). ``--check`` lists what would change
and exits with status 1 if anything would.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from stdp_ray import atomic, locks, report, rundir
from stdp_ray.rundir import legacy

logger = logging.getLogger("migrate_results")

#: The figures of a run report and the input each is drawn from (relative to the run).
_FIGURE_INPUTS = {rundir.CONFUSION_PNG: rundir.METRICS_FILE,
                  rundir.RECEPTIVE_FIELDS_PNG: rundir.NETWORK_DIR,
                  rundir.TRAINING_CURVES_PNG: rundir.STATS_DIR,
                  rundir.CURVE_PNG: f"{rundir.CURVE_DIR}/{rundir.CURVE_FILE}"}
_DIRECTORY_LINE = re.compile(r"^(Run|Ensemble|Sweep) directory: `[^`]*`", re.MULTILINE)
_TITLE_LINE = re.compile(r"^# (Run|Ensemble|Sweep) report: .*$", re.MULTILINE)
_OLD_MEMBER = re.compile(rf"\b{re.escape(legacy.MEMBER_PREFIX)}(\d+)\b")


class Migration:
    """The changes to one tree: applied, or only listed (``apply=False``)."""

    def __init__(self, apply: bool):
        self.apply = apply
        self.changes: list[str] = []

    def change(self, path: Path, what: str) -> bool:
        """Record a change; whether to make it."""
        self.changes.append(f"{path}: {what}")
        logger.info("%s%s: %s", "" if self.apply else "would change ", path, what)
        return self.apply


def find_directories(top: Path) -> list[tuple[str, Path]]:
    """``(kind, path)`` of every run directory, ensemble root and sweep root below ``top``.

    An ensemble root's members are migrated with it, so they are not listed
    apart; a sweep root's runs are.
    """
    if (top / rundir.ENSEMBLE_FILE).is_file():
        return [("ensemble", top)]
    found = []
    if (top / rundir.SWEEP_FILE).is_file():
        found.append(("sweep", top))
    elif (top / rundir.RUN_CONFIG_FILE).is_file():
        return [("run", top)]
    for sub in sorted(p for p in top.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += find_directories(sub)
    return found


# --------------------------------------------------------------------------
# Parquet metadata
# --------------------------------------------------------------------------
def _run_identity(run: Path) -> dict:
    """What the writers record as a run table's identity: seed, network hash, model hash."""
    record = rundir.read_run_record(run)
    identity = {"seed": int(record.seed)}
    metrics = rundir.read_metrics(run)
    if metrics is not None and metrics.network:
        identity["network"] = metrics.network
    identity["config"] = record.config.model_hash()
    return identity


def _parts_identity(run: Path, path: Path) -> dict | None:
    """The identity of a response or statistics part, as its writer records it."""
    record = rundir.read_run_record(run)
    if path.parent.parent == run / rundir.RESPONSES_DIR:
        manifest = rundir.read_manifest(path.parent)
        if manifest is None:
            return None
        return {"phase": manifest.phase, "seed": manifest.seed, "network": manifest.network,
                "config": manifest.model}
    if path.parent == run / rundir.STATS_DIR:
        return {"seed": int(record.seed), "config": record.config.model_hash()}
    return None


def add_table_metadata(run: Path, m: Migration, *, recursive: bool = True) -> None:
    """Give each Parquet file of a run directory (or of a root's own files, not
    ``recursive``) its key-value metadata, if it has none."""
    for path in sorted(run.rglob("*.parquet") if recursive else run.glob("*.parquet")):
        rel = path.relative_to(run)
        if rel.parts[0] in (rundir.NETWORK_DIR, rundir.REPORT_DIR) or any(
                p.startswith(".") for p in rel.parts):
            continue
        if rundir.read_table_metadata(path):
            continue
        if rel.as_posix() in (rundir.ASSIGNMENTS_FILE, rundir.PREDICTIONS_FILE):
            identity = _run_identity(run)
        elif rundir.part_index(path) is not None:
            identity = _parts_identity(run, path)
        else:
            identity = None
        if m.change(path, "key-value metadata added"):
            rundir.write_table(path, rundir.read_table(path), identity=identity)


# --------------------------------------------------------------------------
# Runs, ensembles, sweeps
# --------------------------------------------------------------------------
def move_manifests(run: Path, m: Migration) -> None:
    """Move each phase's manifest from an older place to ``_manifests/``."""
    for phase in rundir.PHASES:
        folder = rundir.phase_dir(run, phase)
        stored = rundir.stored_manifest_path(folder)
        if stored is not None and stored != rundir.manifest_path(folder):
            if m.change(stored, f"moved to {rundir.manifest_path(folder)}"):
                rundir.write_manifest(folder, rundir.read_manifest(folder))


def _derivable(run: Path) -> bool:
    """Whether a run's report can be written again with every figure it holds."""
    shown = {p.name for p in (run / rundir.REPORT_DIR).glob("*.png")}
    return all((run / source).exists() for name, source in _FIGURE_INPUTS.items()
               if name in shown)


def fix_report_text(directory: Path, m: Migration, *, members: bool = False) -> None:
    """``report.md`` with the directory's current name and path (and members' names)."""
    path = directory / rundir.REPORT_DIR / rundir.REPORT_MD
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    new = _DIRECTORY_LINE.sub(lambda g: f"{g.group(1)} directory: `{directory.as_posix()}`", text)
    new = _TITLE_LINE.sub(lambda g: f"# {g.group(1)} report: {directory.name}", new, count=1)
    if members:
        new = _OLD_MEMBER.sub(lambda g: f"seed={g.group(1)}", new)
    if new != text and m.change(path, "directory name and path as they are now"):
        atomic.atomic_write_bytes(path, new.encode("utf-8"))


def migrate_run(run: Path, m: Migration) -> None:
    """A run directory: manifests, table metadata, its report."""
    move_manifests(run, m)
    add_table_metadata(run, m)
    if (run / rundir.REPORT_DIR / rundir.REPORT_MD).is_file() and _derivable(run):
        text = (run / rundir.REPORT_DIR / rundir.REPORT_MD).read_text(encoding="utf-8")
        if f"Run directory: `{run.as_posix()}`" not in text \
                and m.change(run / rundir.REPORT_DIR, "report written again"):
            report.write_run_report(run)
        return
    fix_report_text(run, m)


def rename_members(root: Path, m: Migration) -> None:
    """``seed-<n>/`` -> ``seed=<n>/``, and the members' names in ``metrics.json``."""
    for old in legacy.older_member_dirs(root):
        new = root / f"seed={old.name[len(legacy.MEMBER_PREFIX):]}"
        if not os.path.lexists(new) and m.change(old, f"renamed {new.name}"):
            os.replace(old, new)
    path = root / rundir.ENSEMBLE_METRICS_FILE
    if not path.is_file():
        return
    raw = json.loads(path.read_text(encoding="utf-8"))
    metrics = rundir.read_ensemble_metrics(root)
    renamed = [_OLD_MEMBER.sub(lambda g: f"seed={g.group(1)}", str(x.run_dir))
               for x in metrics.members]
    if next(iter(raw)) == "accuracy" and renamed == [str(x.run_dir) for x in metrics.members]:
        return
    if m.change(path, "members' current names and the headline accuracy"):
        members = [rundir.EnsembleMember(x.seed, x.accuracy, name, x.training_samples)
                   for x, name in zip(metrics.members, renamed)]
        rundir.write_ensemble_metrics(root, rundir.EnsembleMetrics(
            **{**{f: getattr(metrics, f) for f in metrics.__dataclass_fields__},
               "members": members}))


def migrate_ensemble(root: Path, m: Migration) -> None:
    """An ensemble root and its members."""
    rename_members(root, m)
    add_table_metadata(root, m, recursive=False)
    for member in sorted({*root.glob("seed=*"), *legacy.older_member_dirs(root)}):
        if member.is_dir() and (member / rundir.RUN_CONFIG_FILE).is_file():
            migrate_run(member, m)
    fix_report_text(root, m, members=True)


def migrate_sweep(root: Path, m: Migration) -> None:
    """A sweep root (its runs are found apart): table metadata; a report if it has none."""
    add_table_metadata(root, m, recursive=False)
    if not (root / rundir.REPORT_DIR / rundir.REPORT_MD).is_file():
        if m.change(root / rundir.REPORT_DIR, "report written (derived from sweep.parquet)"):
            report.write_sweep_report(root)
    else:
        fix_report_text(root, m)


def migrate(top: Path, *, apply: bool = True) -> list[str]:
    """Migrate every directory below ``top``; the changes made (or to make)."""
    m = Migration(apply)
    steps = {"run": migrate_run, "ensemble": migrate_ensemble, "sweep": migrate_sweep}
    for kind, path in find_directories(top):
        with locks.directory_lock(path, shared=True):
            steps[kind](path, m)
    return m.changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, default=[Path("results")])
    parser.add_argument("--check", action="store_true",
                        help="list what would change; exit 1 if anything would")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    changes = []
    for top in args.dirs:
        if not top.is_dir():
            logger.error("%s: no such directory", top)
            return 2
        changes += migrate(top, apply=not args.check)
    logger.info("%d change(s)%s", len(changes), " to make" if args.check else " made")
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
