"""Learning curves: every snapshot of a training labelled and scored, as the final network is.

``stdp-ray train --eval-every N`` keeps the network every N samples
(``train/snapshots``, :meth:`stdp_ray.training.Trainer.snapshot`); training is
the same, bit for bit, with or without them. :func:`evaluate_curve` then
evaluates each snapshot with the sharded evaluation of observe and test
(:func:`stdp_ray.evaluation.run_phase`): neurons are labelled from the first
``label_samples`` training images, and the first ``test_samples`` test images
(all 10,000 by default, each once) are scored. Several label sets cost one
observation: responses do not depend on how samples are chunked, so the
responses to the first 10,000 of 60,000 images are those of 10,000 alone.

Every snapshot's responses are written as Parquet parts below
``RUN_DIR/curve/snap-<samples>/`` (a rerun or an interrupted call skips what is
written), and the curve itself, one row per snapshot and label set
(:data:`stdp_ray.rundir.CURVE_SCHEMA`), is rewritten from them each time, with
its figures: accuracy against training samples, and the receptive fields of
some neurons at each snapshot.

The curve has its own lock (``RUN_DIR/curve/.lock``), not the run's, so it can
be computed while the run is still training, from the snapshots written so
far.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import artifact, confine, engines, evaluation, locks, rundir, scoring, tracking
from .errors import InputError
from .location import as_path
from .options import RunOptions
from .network import network_fingerprint

logger = logging.getLogger(__name__)

__all__ = ["evaluate_curve", "read_curve", "write_curve_figures", "DEFAULT_LABEL_SAMPLES",
           "CurveError", "SNAPSHOT_NEURONS"]

#: Training images that label the neurons of every snapshot (the default of observe).
DEFAULT_LABEL_SAMPLES = (10_000,)
#: Neurons whose receptive fields the snapshot figure shows (the first ones).
SNAPSHOT_NEURONS = 16


class CurveError(InputError):
    """A learning curve cannot be computed as asked."""


def _check_counts(values, option: str, available: int, split: str) -> list[int]:
    out = sorted({int(v) for v in values})
    if not out:
        raise CurveError(f"{option} is empty, must name >= 1 number of images")
    for v in out:
        if v < 1:
            raise CurveError(f"{option} == {v}, must be >= 1")
        if v > available:
            raise CurveError(f"{option} == {v}, but the {split} set has only {available} images")
    return out


def evaluate_curve(run_dir: str | os.PathLike, options: RunOptions, *,
                   backend: str | None = None, figures: bool = True) -> pa.Table:
    """Label and score every snapshot of ``run_dir``; write and return the curve.

    Parameters
    ----------
    run_dir : path
        A run directory whose training kept snapshots (``--eval-every``).
    options : RunOptions
        ``label_samples``: sizes of the label sets, the first that many
        training images (default 10,000, or every training image where there
        are fewer; the paper's labels come from all 60,000); the largest is
        observed, each gives one row per snapshot. ``test_samples``: test
        images scored, from the first (default: all 10,000). ``snapshots``:
        only the snapshots after these numbers of training samples (default:
        all); rows of earlier calls that this one does not recompute (other
        snapshots, label sets or test sets) stay in the curve. And how the
        chunks run (``chunk_size``, ``workers``, ``progress``, ``data_dir``).
    backend : str, optional
        Engine of the evaluation (default: the run's).
    figures : bool
        Also write ``learning_curve.png`` and the receptive-field snapshots.

    Returns
    -------
    pyarrow.Table
        :data:`stdp_ray.rundir.CURVE_SCHEMA`, also written to
        ``RUN_DIR/curve/curve.parquet``.
    """
    from .workflow import load_split, read_run_config, record_data, resolve_data

    run_dir = as_path(run_dir)
    confine.add_root(run_dir)  # no link below it is followed (curve/ included)
    rc = read_run_config(run_dir)
    snaps = _selected_snapshots(run_dir, options.snapshots)
    options = resolve_data(run_dir, options)  # the run's data set, no other
    record_data(run_dir, options, ("train", "test"), write=False)
    train = load_split(options, "train")
    test = load_split(options, "test")
    label_samples = options.label_samples
    if label_samples is None:
        label_samples = [min(n, len(train[0])) for n in DEFAULT_LABEL_SAMPLES]
    label_sets = _check_counts(label_samples, "--label-samples", len(train[0]), "training")
    n_test = _check_counts([len(test[0]) if options.test_samples is None
                            else options.test_samples], "--test-samples", len(test[0]),
                           "test")[0]
    cfg = engines.resolve(rc.config.replace(backend=backend) if backend else rc.config)
    curve_dir = confine.make_dirs(run_dir / rundir.CURVE_DIR)
    rows = []
    with locks.directory_lock(curve_dir):
        for k, (seen, snap) in enumerate(snaps):
            t0 = time.perf_counter()
            net = artifact.load_network(snap, expect=rc.config)
            splits = {"observe": (*train, label_sets[-1]), "test": (*test, n_test)}
            responses = {}
            for phase, (images, labels, n) in splits.items():
                phase_dir = rundir.curve_phase_dir(run_dir, seen, phase, n)
                evaluation.run_phase(phase_dir, cfg, net.arrays, images[:n], labels[:n],
                                     np.arange(n), seed=rc.seed, phase=phase, options=options)
                responses[phase] = evaluation.responses(
                    phase_dir, recompute=f"remove {phase_dir} to recompute it")
            point = _point(seen, seen / len(train[0]), net, responses["test"])
            rows.extend(_point_rows(point, responses["observe"], responses["test"], label_sets))
            logger.info("curve point %d/%d: %d samples seen, accuracy %s (%.1f s)", k + 1,
                        len(snaps), seen,
                        ", ".join(f"{r['accuracy']:.4f} (labels {r['label_samples']})"
                                  for r in rows[-len(label_sets):]),
                        time.perf_counter() - t0)
        every = {seen for seen, _ in rundir.snapshot_dirs(run_dir / rundir.TRAIN_DIR)}
        table = rundir.curve_table(rows + _earlier_rows(run_dir, rows, every))
        rundir.write_table(curve_dir / rundir.CURVE_FILE, table)
        tracking.track_run(run_dir, ("curve",))
        if figures:
            write_curve_figures(run_dir, table)
    return table


def _selected_snapshots(run_dir: Path, snapshots) -> list[tuple[int, Path]]:
    """The run's snapshots (samples seen, directory) that ``snapshots`` asks for (None: all)."""
    snaps = rundir.snapshot_dirs(run_dir / rundir.TRAIN_DIR)
    if not snaps:
        raise CurveError(f"{run_dir}: no training snapshots in {rundir.SNAPSHOTS_DIR}; train "
                         "with `stdp-ray train --eval-every N`")
    if snapshots is None:
        return snaps
    have = {seen for seen, _ in snaps}
    wanted = {int(n) for n in snapshots}
    missing = sorted(wanted - have)
    if missing:
        raise CurveError(f"--snapshots: no snapshot after {missing} samples in "
                         f"{run_dir / rundir.SNAPSHOTS_DIR} (have {sorted(have)})")
    return [(seen, snap) for seen, snap in snaps if seen in wanted]


def _point(seen: int, epochs: float, net, tested: pa.Table) -> dict:
    """What a curve point records that does not depend on the label set."""
    return {
        "samples_seen": seen, "epochs": epochs, "test_samples": tested.num_rows,
        "n_failed": int(np.sum(tested.column("failed").to_numpy())),
        "mean_spikes": float(np.mean(tested.column("total_spikes").to_numpy())),
        "mean_presentations": float(np.mean(tested.column("presentations").to_numpy())),
        "theta_mean_mV": float(np.mean(net.arrays.theta_mV)),
        "network": network_fingerprint(net.arrays),
    }


def _point_rows(point: dict, observed: pa.Table, tested: pa.Table,
                label_sets: list[int]) -> list[dict]:
    """One row per label set: the labels from its first training images, the test scored."""
    counts = rundir.counts_matrix(tested)
    y = tested.column("label").to_numpy().astype(np.int64)
    rows = []
    for n_labels in label_sets:
        assignments, _ = evaluation.assignment_from_responses(observed.slice(0, n_labels))
        predicted = scoring.predict(scoring.class_scores(counts, assignments))
        rows.append({**point, "label_samples": n_labels,
                     "accuracy": scoring.accuracy(y, predicted),
                     "classes_covered": int(len(np.unique(assignments)))})
    return rows


def _earlier_rows(run_dir: Path, rows: list[dict], snapshots: set[int]) -> list[dict]:
    """Rows of earlier calls that this call did not recompute (other points, label or test sets)."""
    path = run_dir / rundir.CURVE_DIR / rundir.CURVE_FILE
    if not path.is_file():
        return []
    key = ("samples_seen", "label_samples", "test_samples")
    done = {tuple(r[k] for k in key) for r in rows}
    return [r for r in rundir.read_table(path, rundir.CURVE_SCHEMA).to_pylist()
            if tuple(r[k] for k in key) not in done and r["samples_seen"] in snapshots]


def read_curve(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The learning curve of ``run_dir`` as a DataFrame (CurveError if none was computed)."""
    path = as_path(run_dir) / rundir.CURVE_DIR / rundir.CURVE_FILE
    if not path.is_file():
        raise CurveError(f"{run_dir}: no learning curve ({path} missing); run `stdp-ray curve`")
    return rundir.read_table(path, rundir.CURVE_SCHEMA).to_pandas()


def write_curve_figures(run_dir: str | os.PathLike, table: pa.Table | None = None,
                        neurons: int = SNAPSHOT_NEURONS) -> list[Path]:
    """Write ``learning_curve.png`` and the receptive fields at each snapshot."""
    from . import plots
    from .reference import paper_accuracy
    from .report import save_figure

    run_dir = as_path(run_dir)
    frame = table.to_pandas() if table is not None else read_curve(run_dir)
    record = rundir.read_run_record(run_dir)
    title = f"{record.config.n_neurons} neurons, seed {record.seed}"
    curve_dir = run_dir / rundir.CURVE_DIR
    written = [save_figure(plots.learning_curve_figure(
        frame, title=title, paper=paper_accuracy(record.config.n_neurons)),
                           curve_dir / rundir.CURVE_PNG)]
    snaps = rundir.snapshot_dirs(run_dir / rundir.TRAIN_DIR)
    shown = [(seen, artifact.load_network(path).arrays.weights) for seen, path in snaps]
    written.append(save_figure(plots.snapshots_figure(shown, neurons=neurons, title=title),
                               curve_dir / rundir.SNAPSHOTS_PNG, vector=False))
    return written
