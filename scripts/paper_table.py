#!/usr/bin/env python
"""The paper's table beside this project's networks and ensembles, from their run directories.

    python scripts/paper_table.py results/NAME --single RUN_DIR[@SAMPLES] ... \\
        [--ensemble ROOT ...]

Each ``--single`` is one network: the row of its learning curve after SAMPLES
training samples (default: its last snapshot), one row per label set, or,
for a run directory without a curve, its ``metrics.json``. Each ``--ensemble``
is an ensemble root (its summed-scores accuracy, all members). Both may be
URIs (``s3://BUCKET/PREFIX``), read from private mirrors. Writes
``NAME.json`` (every row and where it came from), ``NAME.md`` (the table) and
``NAME.png`` (accuracy against input synapses x training samples: single
networks and ensembles at equal training compute). Nothing here is typed in:
every figure is read from the directories, except the paper's own figures
(Diehl & Cook 2015, table 1), which are quotations.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from stdp_ray import artifact, atomic, curve, location, plots, rundir
from stdp_ray.config import Config
from stdp_ray.report import save_figure

logger = logging.getLogger("paper_table")

#: Diehl & Cook (2015), table 1: test accuracy by excitatory neurons (their epochs differ).
PAPER = {100: 0.829, 400: 0.870, 1600: 0.919, 6400: 0.950}
TRAIN_IMAGES = 60_000


@functools.lru_cache(maxsize=None)
def _sample_seconds(run: Path) -> np.ndarray | None:
    """Each training sample's wall time, in sample order (train/stats), if kept; read once."""
    stats_dir = run / rundir.STATS_DIR
    if not stats_dir.is_dir():
        return None
    stats = rundir.read_parts(stats_dir, rundir.TRAIN_STATS_SCHEMA).to_pandas()
    return stats.sort_values("sample")["seconds"].to_numpy()


def _training_seconds(run: Path, samples: int) -> float | None:
    """Sample time of the first ``samples`` training samples, if all were kept."""
    seconds = _sample_seconds(run)
    return float(seconds[:samples].sum()) if seconds is not None and len(seconds) >= samples \
        else None


def _changed_settings(cfg: Config) -> str:
    """The model settings of ``cfg`` that differ from the defaults, network size aside."""
    diff = Config(n_neurons=cfg.n_neurons).diff(cfg)
    return ", ".join(f"{k}={new}" for k, (_, new) in sorted(diff.items()))


def single_rows(spec: str) -> list[dict]:
    """The rows of one network, ``RUN_DIR[@SAMPLES]`` (RUN_DIR a path or URI)."""
    path, sep, at = spec.rpartition("@")
    if not (sep and at.isdigit()):  # no @SAMPLES: any "@" belongs to the path
        path, at = spec, ""
    run = location.read_location(path)
    record = rundir.read_run_record(run)
    n = record.config.n_neurons
    changed = _changed_settings(record.config)
    name = f"{n} neurons, seed {record.seed}" + (f", {changed}" if changed else "")
    base = {"name": name, "settings": changed, "kind": "single", "n_neurons": n,
            "members": 1, "run_dir": path}
    if (run / rundir.CURVE_DIR / rundir.CURVE_FILE).is_file():
        frame = curve.read_curve(run)
        samples = int(at) if at else int(frame["samples_seen"].max())
        rows = frame[frame["samples_seen"] == samples]
        if rows.empty:
            raise SystemExit(f"{spec}: the curve of {run} has no point after {samples} samples "
                             f"(has {sorted(set(frame['samples_seen']))})")
        snap = rundir.snapshots_dir(run / rundir.TRAIN_DIR) / rundir.snapshot_name(samples)
        prov = artifact.load_network(snap).provenance if snap.is_dir() else {}
        return [{**base, "samples": samples, "label_samples": int(r.label_samples),
                 "test_samples": int(r.test_samples), "accuracy": float(r.accuracy),
                 "n_failed": int(r.n_failed),
                 "training_seconds": _training_seconds(run, samples),
                 "commit": rundir.provenance_commit(prov), "source": "curve"}
                for r in rows.itertuples()]
    metrics = rundir.read_metrics(run)
    if metrics is None:
        raise SystemExit(f"{spec}: {run} has neither a learning curve nor a metrics.json")
    if at and int(at) != metrics.training_samples:
        raise SystemExit(f"{spec}: {run} was tested after {metrics.training_samples} samples")
    return [{**base, "samples": int(metrics.training_samples),
             "label_samples": metrics.observe_samples, "test_samples": metrics.n_samples,
             "accuracy": metrics.accuracy, "n_failed": metrics.n_failed,
             "training_seconds": _training_seconds(run, int(metrics.training_samples)),
             "commit": rundir.provenance_commit(metrics.provenance), "source": "metrics.json"}]


def ensemble_row(spec: str) -> dict:
    """The row of one ensemble root (a path or URI): its summed-scores accuracy."""
    root = location.read_location(spec)
    metrics = rundir.read_ensemble_metrics(root)
    if metrics is None:
        raise SystemExit(f"{root}: no ensemble metrics.json (is the ensemble finished?)")
    settings = rundir.read_ensemble_settings(root)
    cfg = settings.config or Config()
    n = metrics.n_neurons or cfg.n_neurons
    samples = metrics.samples or settings.samples
    k = len(metrics.members)
    changed = _changed_settings(cfg) if settings.config is not None else ""
    return {"name": f"ensemble of {k} x {n} neurons" + (f", {changed}" if changed else ""),
            "settings": changed, "kind": "ensemble", "n_neurons": n,
            "members": k, "run_dir": spec, "samples": int(samples),
            "label_samples": metrics.observe_samples or settings.observe_samples,
            "test_samples": metrics.n_samples, "accuracy": metrics.ensemble_accuracy_sum,
            "mean_member_accuracy": metrics.mean_member_accuracy, "n_failed": None,
            "training_seconds": None, "commit": rundir.provenance_commit(metrics.provenance),
            "source": "ensemble metrics.json (summed class scores)"}


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if kind == "pct":
        return f"{100 * value:.2f} %"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "time":
        return f"{value / 60:.0f} min"
    return str(value)


def _short(commit: str | None) -> str:
    if not commit:
        return "n/a"
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def markdown(rows: pd.DataFrame) -> str:
    head = ("| network | members x neurons | training samples (each) | epochs | labels from "
            "| test accuracy | paper | input synapses x samples | training sample time "
            "| commit |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
    lines = []
    for r in rows.itertuples():
        paper = PAPER.get(r.n_neurons) if r.kind == "single" else None
        lines.append(
            f"| {r.name} | {r.members} x {r.n_neurons} | {_fmt(r.samples, 'int')} | "
            f"{r.samples / TRAIN_IMAGES:.2f} | {_fmt(r.label_samples, 'int')} | "
            f"**{_fmt(r.accuracy, 'pct')}** | {_fmt(paper, 'pct')} | "
            f"{r.synapse_samples:.3g} | {_fmt(r.training_seconds, 'time')} | {_short(r.commit)} |")
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="results/NAME: writes NAME.json, NAME.md, NAME.png")
    parser.add_argument("--single", action="append", default=[],
                        help="RUN_DIR[@SAMPLES]: one network (repeatable)")
    parser.add_argument("--ensemble", action="append", default=[],
                        help="an ensemble root (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.single and not args.ensemble:
        parser.error("give at least one --single or --ensemble")
    rows = [row for spec in args.single for row in single_rows(spec)]
    rows += [ensemble_row(root) for root in args.ensemble]
    frame = pd.DataFrame(rows)
    frame["synapse_samples"] = (784 * frame["n_neurons"] * frame["members"]
                                * frame["samples"]).astype(float)
    frame["paper"] = [PAPER.get(n) if k == "single" else None
                      for n, k in zip(frame["n_neurons"], frame["kind"])]
    out = Path(args.out)
    atomic.atomic_write_json(out.with_suffix(".json"),
                             {"rows": frame.replace({np.nan: None}).to_dict("records"),
                              "paper": {str(k): v for k, v in PAPER.items()},
                              "command": " ".join(["python", "scripts/paper_table.py",
                                                   *(argv or sys.argv[1:])])})
    atomic.atomic_write_bytes(out.with_suffix(".md"), markdown(frame).encode())
    # One point per network: the default labels (10,000 images) where there are several
    # (also when the other labels were measured in a copy of the run directory).
    points = frame.sort_values("label_samples").drop_duplicates(["name", "members", "samples"])
    settings = points["settings"] if "settings" in points.columns else [""] * len(points)
    points = points.assign(series=points["run_dir"], label=[
        f"{m}x{n}, {s / TRAIN_IMAGES:.2g} ep" + (f", {c}" if isinstance(c, str) and c else "")
        for m, n, s, c in zip(points["members"], points["n_neurons"], points["samples"],
                              settings)])
    save_figure(plots.size_vs_ensemble_figure(points), out.with_suffix(".png"))
    print(markdown(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
