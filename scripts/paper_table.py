#!/usr/bin/env python
"""The paper's table beside this project's networks and ensembles, from their run directories.

    python scripts/paper_table.py results/NAME --single RUN_DIR[@SAMPLES] ... \\
        [--seeds RUN_DIR,RUN_DIR,... | --seeds ENSEMBLE_ROOT[,RUN_DIR...] ...] [--ensemble ROOT ...]

Each ``--single`` is one network: the row of its learning curve after SAMPLES
training samples (default: its last snapshot), one row per label set, or,
for a run directory without a curve, its ``metrics.json``. Each ``--ensemble``
is an ensemble root (its summed-scores accuracy, all members). Each ``--seeds``
is one recipe trained from several seeds: run directories, or ensemble roots
standing for their members, that differ only in their seed (checked); its row
is their mean accuracy +- standard deviation. All may be URIs
(``s3://BUCKET/PREFIX``), read from private mirrors.

Every row gets its 95 % interval (:mod:`stdp_ray.intervals`): the binomial
(Wilson) interval over the test images for one network, the interval in which
one more network of the recipe would fall for several seeds; a row "differs from
the paper" when the paper's value for its size lies outside that interval.

Writes ``NAME.json`` (every row and where it came from), ``NAME.md`` (the table),
``NAME.{png,svg}`` (accuracy by network size, the paper's values as black marks,
error bars) and ``NAME-compute.{png,svg}`` (accuracy against input synapses x
training samples: single networks and ensembles at equal training compute).
Nothing here is typed in: every figure is read from the directories, except the
paper's own figures (:mod:`stdp_ray.reference`), which are quotations.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from stdp_ray import artifact, atomic, curve, intervals, location, plots, reading, rundir
from stdp_ray.config import Config
from stdp_ray.reference import PAPER_ACCURACY as PAPER
from stdp_ray.report import save_figure

logger = logging.getLogger("paper_table")

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
    """Sample time of the first ``samples`` training samples: from ``train/stats`` if all
    were kept, else from the network's provenance when it is that network (a shipped run)."""
    seconds = _sample_seconds(run)
    if seconds is not None and len(seconds) >= samples:
        return float(seconds[:samples].sum())
    meta = run / rundir.NETWORK_DIR / artifact.NETWORK_JSON
    if meta.is_file():
        prov = reading.load_json(meta).get("provenance", {})
        if prov.get("training_samples") == samples and prov.get("training_seconds"):
            return float(prov["training_seconds"])
    return None


def _changed_settings(cfg: Config) -> str:
    """The model settings of ``cfg`` that differ from the defaults, network size aside,
    and the engine when it is the fast one (not bit-identical to the others)."""
    diff = Config(n_neurons=cfg.n_neurons).diff(cfg)
    changed = [f"{k}={new}" for k, (_, new) in sorted(diff.items())]
    if cfg.backend == "fast":
        changed.append("fast engine")
    return ", ".join(changed)


def _metrics_commit(run: Path, network: str | None) -> str | None:
    """The commit in ``metrics.json`` when its network is the curve row's ``network``
    (a snapshot's own provenance is not shipped with the curve)."""
    metrics = rundir.read_metrics(run)
    if metrics is None or not network:
        return None
    return rundir.provenance_commit(metrics.provenance) if metrics.network == network else None


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
        commit = (rundir.provenance_commit(artifact.load_network(snap).provenance)
                  if snap.is_dir() else _metrics_commit(run, rows["network"].iloc[-1]
                                                        if "network" in rows else None))
        return [{**base, "samples": samples, "label_samples": int(r.label_samples),
                 "test_samples": int(r.test_samples), "accuracy": float(r.accuracy),
                 "n_failed": int(r.n_failed),
                 "training_seconds": _training_seconds(run, samples),
                 "commit": commit, "source": "curve"}
                for r in rows.drop_duplicates(["label_samples"], keep="last").itertuples()]
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


def _member_dirs(spec: str) -> list[str]:
    """Run directories named by one ``--seeds`` entry: a run directory, or an ensemble
    root standing for its members."""
    root = location.read_location(spec)
    metrics = rundir.read_ensemble_metrics(root) if (root / rundir.ENSEMBLE_FILE).is_file() \
        else None
    if metrics is None:
        return [spec]
    return [f"{spec.rstrip('/')}/{m.run_dir}" for m in metrics.members]


def seeds_row(spec: str) -> dict:
    """The row of one recipe trained from several seeds: ``DIR[,DIR...]`` (run directories
    or ensemble roots). Every network must be a different seed of the same recipe (size,
    settings, engine, training samples, label and test images)."""
    dirs = [d for part in spec.split(",") if part.strip() for d in _member_dirs(part.strip())]
    rows = []
    for d in dirs:
        run = location.read_location(d)
        metrics = rundir.read_metrics(run)
        if metrics is None:
            raise SystemExit(f"--seeds {spec}: {d} has no metrics.json (is it tested?)")
        record = rundir.read_run_record(run)
        rows.append({"dir": d, "seed": record.seed, "n": record.config.n_neurons,
                     "settings": _changed_settings(record.config),
                     "samples": int(metrics.training_samples),
                     "label_samples": metrics.observe_samples,
                     "test_samples": metrics.n_samples, "accuracy": metrics.accuracy,
                     "commit": rundir.provenance_commit(metrics.provenance),
                     "training_seconds": _training_seconds(run, int(metrics.training_samples))})
    if len(rows) < 2:
        raise SystemExit(f"--seeds {spec}: names {len(rows)} network, need >= 2 seeds")
    for key in ("n", "settings", "samples", "label_samples", "test_samples"):
        values = sorted({str(r[key]) for r in rows})
        if len(values) > 1:
            raise SystemExit(f"--seeds {spec}: the networks differ in {key} ({values}); "
                             "seeds of one recipe only")
    seeds = [r["seed"] for r in rows]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds {spec}: seed repeated ({sorted(seeds)})")
    summary = intervals.seed_summary([r["accuracy"] for r in rows])
    first = rows[0]
    name = (f"{first['n']} neurons, {len(rows)} seeds"
            + (f", {first['settings']}" if first["settings"] else ""))
    commits = sorted({_short(r["commit"]) for r in rows})
    times = [r["training_seconds"] for r in rows]
    return {"name": name, "settings": first["settings"], "kind": "seeds", "n_neurons": first["n"],
            "members": 1, "run_dir": spec, "samples": first["samples"],
            "label_samples": first["label_samples"], "test_samples": first["test_samples"],
            "accuracy": summary.mean, "sd": summary.sd, "seeds": seeds,
            "seed_accuracies": [r["accuracy"] for r in rows], "n_failed": None,
            "training_seconds": (float(np.mean(times)) if all(t is not None for t in times)
                                 else None),
            "commit": ",".join(commits), "source": "metrics.json of each seed"}


def with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each row's 95 % interval (``ci_low``, ``ci_high``, ``interval``: which
    one) and whether the paper's value for its size lies outside (``differs``)."""
    lows, highs, kinds, differs = [], [], [], []
    for r in frame.itertuples():
        if r.kind == "seeds":
            iv = intervals.seed_summary(r.seed_accuracies).prediction
            kind = f"prediction, {len(r.seed_accuracies)} seeds"
        elif r.test_samples is not None and not pd.isna(r.test_samples):
            iv = intervals.wilson_interval(float(r.accuracy), int(r.test_samples))
            kind = "binomial"
        else:
            iv, kind = None, None
        lows.append(iv.low if iv else None)
        highs.append(iv.high if iv else None)
        kinds.append(kind)
        paper = r.paper if r.kind in ("single", "seeds") else None
        differs.append(intervals.outside(iv, paper) if paper is not None
                       and not pd.isna(paper) else None)
    return frame.assign(ci_low=lows, ci_high=highs, interval=kinds, differs=differs)


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
    if not isinstance(commit, str) or not commit:
        return "n/a"
    if "," in commit:  # already shortened, one per seed
        return commit
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def _accuracy_cell(r) -> str:
    value = f"**{_fmt(r.accuracy, 'pct')}**"
    if r.kind == "seeds":
        value += f" +- {100 * r.sd:.2f} (sd)"
    if r.ci_low is not None and not pd.isna(r.ci_low):
        value += f" [{100 * r.ci_low:.2f}, {100 * r.ci_high:.2f}]"
    return value


def _paper_cell(r) -> str:
    if r.paper is None or pd.isna(r.paper):
        return "-"
    if r.differs is None or pd.isna(r.differs):
        return _fmt(r.paper, "pct")
    delta = 100 * (r.accuracy - r.paper)
    return f"{_fmt(r.paper, 'pct')} ({delta:+.2f}; " + \
        ("**differs**" if r.differs else "within") + ")"


def markdown(rows: pd.DataFrame) -> str:
    head = ("| network | members x neurons | training samples (each) | epochs | labels from "
            "| test accuracy [95 % interval] | paper (ours - paper) | input synapses x samples "
            "| training sample time | commit |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
    lines = []
    for r in rows.itertuples():
        lines.append(
            f"| {r.name} | {r.members} x {r.n_neurons} | {_fmt(r.samples, 'int')} | "
            f"{r.samples / TRAIN_IMAGES:.2f} | {_fmt(r.label_samples, 'int')} | "
            f"{_accuracy_cell(r)} | {_paper_cell(r)} | "
            f"{r.synapse_samples:.3g} | {_fmt(r.training_seconds, 'time')} | {_short(r.commit)} |")
    note = ("\nIntervals (95 %): binomial (Wilson) over the test images for one network; for "
            "several seeds, where one more network of the recipe would fall (mean +- t x sd x "
            "sqrt(1 + 1/k)). \"differs\": the paper's value lies outside the row's interval. "
            "Ensembles are not compared with the paper (it has none).\n")
    return head + "\n".join(lines) + "\n" + note


def _size_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows drawn against network size, with labels from the default 10,000 images:
    every group of seeds, and the last point of each training that ends on a whole epoch
    (or, for a size with none, of the longest training)."""
    rows = frame[frame["kind"].isin(["single", "seeds"])
                 & (frame["label_samples"] == frame["label_samples"].min())]
    rows = rows[rows.groupby("run_dir")["samples"].transform("max") == rows["samples"]]
    whole = rows["samples"] % TRAIN_IMAGES == 0
    sizes_with_whole = set(rows.loc[whole, "n_neurons"])
    longest = rows.groupby("n_neurons")["samples"].transform("max") == rows["samples"]
    rows = rows[whole | (~rows["n_neurons"].isin(sizes_with_whole) & longest)]
    labels = []
    for r in rows.itertuples():
        epochs = r.samples / TRAIN_IMAGES
        who = (f"{len(r.seed_accuracies)} seeds" if r.kind == "seeds"
               else r.name.split(", ")[1])  # "seed 42"
        extra = f", {r.settings}" if isinstance(r.settings, str) and r.settings else ""
        labels.append(f"{epochs:.3g} epoch{'' if epochs == 1 else 's'}, {who}{extra}")
    return rows.assign(label=labels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="results/NAME: writes NAME.json, NAME.md, NAME.png")
    parser.add_argument("--single", action="append", default=[],
                        help="RUN_DIR[@SAMPLES]: one network (repeatable)")
    parser.add_argument("--ensemble", action="append", default=[],
                        help="an ensemble root (repeatable)")
    parser.add_argument("--seeds", action="append", default=[],
                        help="DIR[,DIR...]: one recipe from several seeds; run directories or "
                             "ensemble roots (their members) (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.single and not args.ensemble and not args.seeds:
        parser.error("give at least one --single, --seeds or --ensemble")
    rows = [row for spec in args.single for row in single_rows(spec)]
    rows += [seeds_row(spec) for spec in args.seeds]
    rows += [ensemble_row(root) for root in args.ensemble]
    frame = pd.DataFrame(rows)
    for column in ("sd", "seeds", "seed_accuracies"):
        if column not in frame.columns:
            frame[column] = None
    frame["synapse_samples"] = (784 * frame["n_neurons"] * frame["members"]
                                * frame["samples"]).astype(float)
    # The paper's networks were trained for whole epochs: a snapshot inside the first
    # epoch is a point of a learning curve, not a row to hold against the paper's.
    frame["paper"] = [PAPER.get(n) if k in ("single", "seeds") and s >= TRAIN_IMAGES else None
                      for n, k, s in zip(frame["n_neurons"], frame["kind"], frame["samples"])]
    frame = with_intervals(frame)
    out = Path(args.out)
    atomic.atomic_write_json(out.with_suffix(".json"),
                             {"rows": frame.astype(object).where(frame.notna(), None)
                              .to_dict("records"),
                              "paper": {str(k): v for k, v in PAPER.items()},
                              "command": " ".join(["python", "scripts/paper_table.py",
                                                   *(argv or sys.argv[1:])])})
    atomic.atomic_write_bytes(out.with_suffix(".md"), markdown(frame).encode())
    save_figure(plots.paper_table_figure(_size_points(frame), PAPER), out.with_suffix(".png"))
    # One point per network: the default labels (10,000 images) where there are several
    # (also when the other labels were measured in a copy of the run directory).
    points = frame.sort_values("label_samples").drop_duplicates(["name", "members", "samples"])
    points = points.assign(series=[f"{k}:{d}" for k, d in zip(points["kind"], points["run_dir"])],
                           label=[f"{n}, {e / TRAIN_IMAGES:.2g} epochs"
                                  + (" (mean of seeds)" if k == "seeds" else "")
                                  for n, k, e in zip(points["name"], points["kind"],
                                                     points["samples"])],
                           neuron_epochs=points["n_neurons"] * points["members"]
                           * points["samples"] / TRAIN_IMAGES)
    save_figure(plots.size_vs_ensemble_figure(points),
                out.with_name(out.name + "-compute.png"))
    print(markdown(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
