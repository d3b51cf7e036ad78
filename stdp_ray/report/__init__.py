"""Reports of run directories, ensemble roots and sweep roots: PNG figures and Markdown.

This package only reads what a run left on disk (through the readers of
:mod:`stdp_ray.rundir`, which also names every file below) and writes files
under ``<dir>/report/``; the figures themselves come from :mod:`stdp_ray.plots`.
One module per kind of directory (:mod:`~stdp_ray.report.run`,
:mod:`~stdp_ray.report.ensemble`, :mod:`~stdp_ray.report.sweep`), and
:mod:`~stdp_ray.report.output` for the files and the Markdown text they share;
:func:`write_report` picks the kind.
Every file is written atomically (temporary file + rename), so a report being
rewritten is never seen half-written::

    RUN_DIR/report/
      confusion.png          from metrics.json (confusion matrix, accuracy)
      receptive_fields.png   from network/ (weights, assignments if observed)
      training_curves.png    from train/stats/part-*.parquet
      training_summary.csv   the same statistics as means per block of 1,000 samples
      report.md              headline numbers, the figures, what was skipped and why

    ENSEMBLE_ROOT/report/
      ensemble_accuracy.png  from metrics.json (written beside ensemble.json)
      report.md              member table, accuracy against K, links to member reports

    SWEEP_ROOT/report/
      sweep.png              from sweep.parquet (accuracy against each swept setting)
      report.md              settings, best run, mean accuracy per point, every run
                             with a link to its report
"""

from __future__ import annotations

import os
from pathlib import Path

from ..locks import directory_lock
from .ensemble import inside_root, is_ensemble_root, write_ensemble_report
from .output import DEFAULT_DPI, save_figure
from .run import SUMMARY_EVERY, training_summary, write_run_report
from .sweep import is_sweep_root, sweep_run_dirs, write_sweep_figure, write_sweep_report
from .. import confine
from ..location import as_path

__all__ = ["write_report", "write_run_report", "write_ensemble_report", "write_sweep_report",
           "write_sweep_figure", "save_figure", "DEFAULT_DPI", "is_ensemble_root",
           "is_sweep_root", "inside_root", "sweep_run_dirs", "training_summary",
           "SUMMARY_EVERY"]


def write_report(path: str | os.PathLike, *, dpi: float = DEFAULT_DPI) -> list[Path]:
    """The report of a run directory, an ensemble root or a sweep root, holding ``report/``'s lock.

    A report reads only committed files (each written atomically) and takes
    only its own directory's lock (``DIR/report/.lock``), not the run's: it can
    be written while the run trains, observes or tests (it then shows the
    network saved last and says which training sample it is from, and how far
    the training in progress has come). Two reports of one directory at once
    are refused.

    Raises
    ------
    DirectoryBusyError
        If another stdp-ray process is writing this directory's report.
    ValueError
        As :func:`write_run_report`, :func:`write_ensemble_report` and
        :func:`write_sweep_report`.
    """
    from ..rundir import REPORT_DIR, RUN_CONFIG_FILE

    path = as_path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a run directory (no such directory)")
    confine.add_root(path)  # no link below it is followed (report/ included)
    if not (is_ensemble_root(path) or is_sweep_root(path)
            or (path / RUN_CONFIG_FILE).is_file()):  # refused before report/ is made
        raise ValueError(f"{path}: not a run directory (no {RUN_CONFIG_FILE})")
    out = path / REPORT_DIR
    made = not os.path.lexists(out)
    try:
        with directory_lock(confine.make_dirs(out)):  # no link followed
            if is_ensemble_root(path):
                return write_ensemble_report(path, dpi=dpi)
            if is_sweep_root(path):
                return write_sweep_report(path, dpi=dpi)
            return write_run_report(path, dpi=dpi)
    except BaseException:
        if made:  # a refused report leaves no report/ behind (its lock included)
            from ..atomic import remove_path

            remove_path(out)
        raise
