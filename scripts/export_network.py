#!/usr/bin/env python
"""Write a run's trained network (and its label assignment) as a network artifact to ship.

    python scripts/export_network.py RUN_DIR results/networks/NAME [--dtype float32]

The artifact is what ``stdp-ray import`` reads: ``network.json`` (config and
provenance, with the run's), ``arrays.npz`` and, if the run was observed,
``assignments.npz``. ``float32`` halves its size; whether that changes any
prediction is for the caller to check (import it, ``stdp-ray test``, compare
``predictions.parquet``; see results/README.md). An existing destination is
refused. Exit status 2: a run directory that cannot be read (its config or
network missing or malformed, an unusable URI). RUN_DIR may be a URI (``s3://BUCKET/PREFIX``): it is read from a
private mirror.
"""
import argparse
import logging
import sys
from pathlib import Path

from stdp_ray import artifact, location, rundir, workflow


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="the trained run directory (a path or URI)")
    p.add_argument("dest", type=Path, help="the artifact to create, e.g. results/networks/NAME")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="storage precision of weights, theta and delays (default float64)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        run_dir = location.read_location(args.run_dir)
        rc = workflow.read_run_config(run_dir)
        net = artifact.load_network(run_dir / rundir.NETWORK_DIR, expect=rc.config)
    except (OSError, ValueError) as exc:  # missing, malformed, unreachable: one line, exit 2
        logging.error("%s", exc)
        return 2
    prov = {k: v for k, v in net.provenance.items()
            if k in ("seed", "training_samples", "training_seconds", "training_call_seconds")}
    prov["trained_with"] = rundir.provenance_commit(net.provenance)
    prov["exported_from"] = location.display_name(run_dir)
    labels = (net.assignments, net.class_rates) if net.assignments is not None else None
    artifact.save_network(args.dest, rc.config, net.arrays, prov=prov, dtype=args.dtype,
                          assignments=labels)
    logging.info("exported %s to %s (%s)", args.run_dir, args.dest, args.dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
