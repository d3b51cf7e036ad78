#!/usr/bin/env python
"""The fast engine's trainings beside the exact engine's: accuracy, spikes, theta, weights.

    python scripts/fast_equivalence.py results/NAME --fast FAST_ROOT --exact EXACT_ROOT \\
        [--fast-stats RUN_DIR --exact-stats RUN_DIR] [--seed 42]

FAST_ROOT and EXACT_ROOT are ensemble roots of the same seeds and
configuration, trained with ``--backend fast`` and with an exact engine
(their members' ``metrics.json``: full-test-set accuracy, labels from
training images). The figure puts side by side: each member's accuracy;
spikes per training sample and presentations per sample (per-sample
distributions where both ``--fast-stats`` and ``--exact-stats`` hold
per-sample statistics of the same seed, compared on the samples both have;
otherwise and also: means per 1,000 samples over the epoch, from the
members' statistics or their ``report/training_summary.csv``); the final
theta and weights of seed ``--seed``'s networks (``network/`` of the fast
member; of the exact one, its ``network/`` or ``--exact-network``). Writes
``NAME.json`` (every figure and where it came from) and ``NAME.png``.
Nothing is typed in: every number is read from the directories.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from stdp_ray import artifact, atomic, rundir
from stdp_ray.report import save_figure, training_summary

logger = logging.getLogger("fast_equivalence")


def _members(root: Path) -> dict[int, Path]:
    out = {}
    for member in sorted(root.glob("seed=*")):
        out[int(member.name.split("=", 1)[1])] = member
    if not out:
        raise SystemExit(f"{root}: no members (seed=*/) found")
    return out


def _accuracy(member: Path) -> float:
    return float(json.loads((member / "metrics.json").read_text())["accuracy"])


def _per_sample(run: Path) -> pd.DataFrame | None:
    stats = rundir.stats_dir(run / rundir.TRAIN_DIR)
    if not stats.is_dir():
        return None
    return rundir.read_parts(stats, rundir.TRAIN_STATS_SCHEMA).to_pandas().sort_values("sample")


def _blocks(member: Path) -> pd.DataFrame:
    stats = _per_sample(member)
    if stats is not None:
        return training_summary(stats)
    return pd.read_csv(member / "report" / "training_summary.csv")


def _network(member: Path, fallback: Path | None):
    for where in (member / "network", fallback):
        if where is not None and (where / artifact.NETWORK_JSON).is_file():
            return artifact.load_network(where), where
    return None, None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="results/NAME: NAME.json and NAME.png are written")
    p.add_argument("--fast", type=Path, required=True, help="ensemble root trained with fast")
    p.add_argument("--exact", type=Path, required=True, help="ensemble root trained exactly")
    p.add_argument("--fast-stats", type=Path, help="a fast run with per-sample statistics")
    p.add_argument("--exact-stats", type=Path, help="an exact run of the same seed, likewise")
    p.add_argument("--exact-network", type=Path, help="the exact member's network of --seed")
    p.add_argument("--seed", type=int, default=42, help="the member whose network is drawn")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fast, exact = _members(args.fast), _members(args.exact)
    seeds = sorted(set(fast) & set(exact))
    if not seeds:
        raise SystemExit(f"{args.fast} and {args.exact} have no seed in common")
    record: dict = {"fast_root": str(args.fast), "exact_root": str(args.exact), "seeds": seeds,
                    "accuracy": {"fast": {s: _accuracy(fast[s]) for s in seeds},
                                 "exact": {s: _accuracy(exact[s]) for s in seeds}}}
    acc = record["accuracy"]
    acc["fast_mean"] = float(np.mean(list(acc["fast"].values())))
    acc["exact_mean"] = float(np.mean(list(acc["exact"].values())))
    acc["difference_points"] = 100 * (acc["fast_mean"] - acc["exact_mean"])

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    ax = axes[0, 0]
    x = np.arange(len(seeds))
    ax.bar(x - 0.2, [100 * acc["exact"][s] for s in seeds], 0.4, label="exact (native)")
    ax.bar(x + 0.2, [100 * acc["fast"][s] for s in seeds], 0.4, label="fast")
    ax.set_xticks(x, [f"seed {s}" for s in seeds])
    lo = 100 * min(min(acc["fast"].values()), min(acc["exact"].values()))
    ax.set_ylim(lo - 2, 100 * max(max(acc["fast"].values()), max(acc["exact"].values())) + 1)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"accuracy: exact mean {100 * acc['exact_mean']:.2f} %, "
                 f"fast mean {100 * acc['fast_mean']:.2f} %", fontsize=10)
    ax.legend(fontsize=8)

    # Per-sample distributions on the samples both runs have.
    fs = _per_sample(args.fast_stats) if args.fast_stats else None
    es = _per_sample(args.exact_stats) if args.exact_stats else None
    for ax, column, label in ((axes[0, 1], "total_spikes", "spikes per training sample"),
                              (axes[0, 2], "presentations", "presentations per sample")):
        if fs is None or es is None:
            ax.set_axis_off()
            continue
        common = np.intersect1d(fs["sample"], es["sample"])
        f = fs.set_index("sample").loc[common, column].to_numpy()
        e = es.set_index("sample").loc[common, column].to_numpy()
        top = int(np.ceil(max(np.percentile(e, 99.9), np.percentile(f, 99.9))))
        bins = np.arange(0, top + 2) - 0.5
        ax.hist(np.minimum(e, top), bins=bins, alpha=0.55, label=f"exact: mean {e.mean():.3f}")
        ax.hist(np.minimum(f, top), bins=bins, alpha=0.55, label=f"fast: mean {f.mean():.3f}")
        ax.set_yscale("log")
        ax.set_xlabel(f"{label} (the last bin holds everything above {top})"
                      if top < max(e.max(), f.max()) else label)
        ax.set_title(f"samples 0-{common.max():,} of seed {args.seed}, same input spikes",
                     fontsize=10)
        ax.legend(fontsize=8)
        record.setdefault("per_sample", {})[column] = {
            "samples": int(common.size), "exact_mean": float(e.mean()),
            "fast_mean": float(f.mean()), "exact_std": float(e.std()), "fast_std": float(f.std()),
            "identical_fraction": float(np.mean(e == f))}

    # Means per 1,000 samples over the epoch, every member.
    ax = axes[1, 0]
    record["blocks"] = {}
    for engine, members, style in (("exact", exact, "-"), ("fast", fast, "--")):
        for k, s in enumerate(seeds):
            b = _blocks(members[s])
            ax.plot(b["last_sample"] + 1, b["total_spikes"], style, color=f"C{k}", lw=1.1,
                    label=f"{engine} seed {s}")
            record["blocks"][f"{engine}-{s}"] = {
                "mean_spikes": float(np.average(b["total_spikes"], weights=b["samples"])),
                "mean_presentations": float(np.average(b["presentations"],
                                                       weights=b["samples"])),
                "final_theta_mean_mV": float(b["theta_mean_mV"].iloc[-1])}
    ax.set_xlabel("training sample")
    ax.set_ylabel("spikes per sample (mean of 1,000)")
    ax.set_title("solid: exact, dashed: fast", fontsize=10)
    ax.legend(fontsize=6, ncol=2)

    fnet, fwhere = _network(fast[args.seed], None) if args.seed in fast else (None, None)
    enet, ewhere = _network(exact[args.seed], args.exact_network) if args.seed in exact \
        else (None, None)
    for ax, what in ((axes[1, 1], "theta"), (axes[1, 2], "weights")):
        if fnet is None or enet is None:
            ax.set_axis_off()
            continue
        if what == "theta":
            e, f = enet.arrays.theta_mV, fnet.arrays.theta_mV
            bins = np.linspace(min(e.min(), f.min()), max(e.max(), f.max()), 40)
            ax.set_xlabel("theta (mV)")
        else:
            e, f = np.ravel(enet.arrays.weights), np.ravel(fnet.arrays.weights)
            bins = np.linspace(0, max(e.max(), f.max()), 50)
            ax.set_yscale("log")
            ax.set_xlabel("input weight")
        ax.hist(e, bins=bins, alpha=0.55, label=f"exact: mean {e.mean():.4f}, sd {e.std():.4f}")
        ax.hist(f, bins=bins, alpha=0.55, label=f"fast: mean {f.mean():.4f}, sd {f.std():.4f}")
        ax.set_title(f"seed {args.seed} after training", fontsize=10)
        ax.legend(fontsize=8)
        record.setdefault("final", {})[what] = {
            "exact_mean": float(e.mean()), "fast_mean": float(f.mean()),
            "exact_std": float(e.std()), "fast_std": float(f.std()),
            "exact_network": str(ewhere), "fast_network": str(fwhere)}
    fig.suptitle(f"fast against exact: {len(seeds)} networks trained from the same seeds",
                 fontsize=12)
    fig.tight_layout()
    out = Path(args.out)
    save_figure(fig, out.with_suffix(".png"))
    atomic.atomic_write_json(out.with_suffix(".json"), record)
    logger.info("wrote %s.{json,png}: accuracy exact %.2f %%, fast %.2f %% (%+.2f points)", out,
                100 * acc["exact_mean"], 100 * acc["fast_mean"], acc["difference_points"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
