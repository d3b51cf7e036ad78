#!/usr/bin/env python
"""Copy the newest training checkpoint of a run into a new run directory as its network,
so a network can be observed and tested while its training goes on.

    python scripts/snapshot.py TRAIN_RUN_DIR NEW_RUN_DIR
"""
import argparse
import logging
import shutil
import sys
from pathlib import Path

from stdp_ray import artifact, checkpoints, rundir, workflow


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train_run_dir")
    p.add_argument("new_run_dir")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    src, dst = Path(args.train_run_dir), Path(args.new_run_dir)
    rc = workflow.read_run_config(src)
    ckpt = rundir.latest_checkpoint(src / rundir.CHECKPOINTS_DIR)
    if ckpt is None:
        logging.error("%s: no checkpoint yet", src)
        return 2
    found = checkpoints.read_checkpoint(ckpt, rc.config, rc.seed, dynamic=False)
    done, arrays = found.samples_done, found.arrays
    workflow.prepare_run(dst, rc.config, rc.seed)
    # The training statistics up to the checkpoint (parts are written with checkpoints).
    for part in rundir.part_paths(src / rundir.STATS_DIR):
        if rundir.part_index(part) < done:
            target = dst / rundir.STATS_DIR / part.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(part, target)
    artifact.save_network(dst / rundir.NETWORK_DIR, rc.config, arrays,
                          prov={"seed": rc.seed, "training_samples": done,
                             "snapshot_of": str(src.resolve())})
    logging.info("%s: network after %d training samples", dst, done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
