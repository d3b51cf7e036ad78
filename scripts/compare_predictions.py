#!/usr/bin/env python
"""Two runs' test predictions side by side: how often they agree, and each accuracy.

    python scripts/compare_predictions.py results/NAME --reference RUN_DIR --other RUN_DIR \\
        [--pair NAME REF OTHER ...]

Each run directory (or a directory holding ``predictions.parquet``) was
scored on the same test images, e.g. one network tested with the exact and
with the fast engine and the same label assignments. For each pair: the
images both scored, the fraction predicted alike, both accuracies with
their 95 % binomial (Wilson) intervals, and the difference in points.
Writes ``NAME.json`` and ``NAME.md``. Every number is read from the tables.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from stdp_ray import atomic


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def _predictions(path: Path) -> pd.DataFrame:
    table = path / "predictions.parquet" if path.is_dir() else path
    if not table.is_file():
        raise SystemExit(f"{path}: no predictions.parquet")
    return pd.read_parquet(table, columns=["sample", "label", "predicted"]).set_index("sample")


def compare(reference: Path, other: Path) -> dict:
    """Agreement and accuracies of two prediction tables on the samples both hold."""
    ref, oth = _predictions(reference), _predictions(other)
    common = ref.index.intersection(oth.index)
    ref, oth = ref.loc[common], oth.loc[common]
    if not (ref["label"] == oth["label"]).all():
        raise SystemExit(f"{reference} and {other}: labels differ; not the same test images")
    n = int(len(common))
    out = {"reference": str(reference), "other": str(other), "images": n,
           "agreement": float((ref["predicted"] == oth["predicted"]).mean())}
    for name, table in (("reference", ref), ("other", oth)):
        correct = int((table["predicted"] == table["label"]).sum())
        out[f"{name}_accuracy"] = correct / n
        out[f"{name}_interval_95"] = list(wilson(correct, n))
    out["difference_points"] = 100 * (out["other_accuracy"] - out["reference_accuracy"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="results/NAME: NAME.json and NAME.md are written")
    p.add_argument("--pair", nargs=3, action="append", metavar=("NAME", "REFERENCE", "OTHER"),
                   required=True, help="a named pair of run directories")
    args = p.parse_args(argv)
    rows = {name: compare(Path(ref), Path(oth)) for name, ref, oth in args.pair}
    out = Path(args.out)
    atomic.atomic_write_json(out.with_suffix(".json"), rows)
    lines = ["| pair | images | predicted alike | reference | other | difference |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['images']:,} | {100 * r['agreement']:.2f} % | "
                     f"{100 * r['reference_accuracy']:.2f} % | {100 * r['other_accuracy']:.2f} % "
                     f"| {r['difference_points']:+.2f} points |")
    atomic.atomic_write_bytes(out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
