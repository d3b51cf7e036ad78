#!/usr/bin/env python
"""Start a real two-node Ray cluster on 127.0.0.1 (1 CPU per node), submit
`stdp-ray test` of RUN_DIR's network to it with the Job API, report which node
ran which chunk, and stop exactly the processes it started.

RUN_DIR is only read: its network (with its label assignment) is imported into
a directory of the demo's own (--out, default a new temporary directory), and
the test runs there, so the results of RUN_DIR are never replaced.

    python scripts/multinode_demo.py RUN_DIR [--out DIR] [--samples 200] [--chunk-size 25]
                                     [--data-dir D]
"""
import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

from stdp_ray import rundir, workflow
from stdp_ray.testing.localcluster import LocalCluster


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="the demo's own run directory (must not exist; "
                                                "default: a new temporary directory)")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--chunk-size", type=int, default=25)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    source = Path(args.run_dir).resolve()
    if args.out is not None and Path(args.out).exists():
        p.error(f"--out {args.out}: exists; give a new directory (the demo writes its results "
                "there)")
    run_dir = Path(args.out or tempfile.mkdtemp(prefix="multinode-demo-")).resolve()
    workflow.import_network(source / rundir.NETWORK_DIR, run_dir)
    logging.info("testing %s's network in %s (its own results untouched)", source, run_dir)
    cmd = [str(Path(sys.executable).parent / "stdp-ray"), "test", str(run_dir), "--samples",
           str(args.samples), "--chunk-size", str(args.chunk_size), "--overwrite",
           "--no-progress"]
    if args.data_dir:
        cmd += ["--data-dir", str(Path(args.data_dir).resolve())]
    t0 = time.perf_counter()
    with LocalCluster(workers=1, cpus=1) as cluster:
        t1 = time.perf_counter()
        status, logs = cluster.submit(" ".join(map(shlex.quote, cmd)))
        t2 = time.perf_counter()
    print(logs[-2000:])
    metrics = rundir.read_metrics(run_dir)
    nodes = sorted(set(metrics.chunk_nodes.values()))
    by_node = {n[:8]: sorted(int(c) for c, m in metrics.chunk_nodes.items() if m == n)
               for n in nodes}
    print(json.dumps({"status": status, "cluster_start_s": round(t1 - t0, 1),
                      "job_s": round(t2 - t1, 1), "total_s": round(time.perf_counter() - t0, 1),
                      "accuracy": metrics.accuracy, "chunks_by_node": by_node,
                      "run_dir": str(run_dir)}, indent=2))
    return 0 if status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
