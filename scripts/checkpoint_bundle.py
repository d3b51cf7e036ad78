#!/usr/bin/env python
"""A training run's newest checkpoint as a small bundle that another machine continues from.

    python scripts/checkpoint_bundle.py RUN_DIR results/checkpoints/NAME [--overwrite]

Long trainings (6,400 neurons for 15 epochs) outlive a machine. This writes
the run's ``config.json`` and its newest intact checkpoint with the weights
and delays in float32 (theta and the dynamic state as they are), compressed,
with new checksums, plus a ``README.md`` with the commands that continue it. The fast
engine holds its weights in float32, so its continuation is unchanged; the
exact engines continue from the float32-rounded weights. The bundle replaces
an existing one only with ``--overwrite`` (built under a temporary name,
renamed into place). The dynamic state must be small: the fast engine's
compact traces are; the exact engines' per-synapse traces of a large network
are refused (over ``--max-mib``).

To continue on another machine (the bundle's README says the same)::

    mkdir -p RUNS/NAME/train/checkpoints
    cp results/checkpoints/NAME/config.json RUNS/NAME/
    cp -r results/checkpoints/NAME/ckpt-* RUNS/NAME/train/checkpoints/
    stdp-ray train RUNS/NAME ...          # the command the bundle's README gives
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np

from stdp_ray import atomic, checkpoints, reading, rundir, workflow
from stdp_ray.config import config_to_dict
from stdp_ray.rundir import CheckpointState

logger = logging.getLogger("checkpoint_bundle")


def bundle(run_dir: Path, out: Path, *, overwrite: bool = False, max_mib: float = 64.0,
           command: str | None = None) -> Path:
    """Write the bundle of ``run_dir``'s newest checkpoint to ``out``; returns its checkpoint."""
    record = workflow.read_run_config(run_dir)
    found = checkpoints.newest_usable_checkpoint(run_dir / rundir.TRAIN_DIR, record.config,
                                              record.seed)
    if found is None:
        raise SystemExit(f"{run_dir}: no checkpoint to bundle")
    dynamic_mib = sum(a.nbytes for a in found.dynamic.values()) / 2**20
    if dynamic_mib > max_mib:
        raise SystemExit(f"{found.path}: dynamic state of {dynamic_mib:.0f} MiB (per-synapse "
                         f"traces of an exact engine), over --max-mib {max_mib:g}")
    if out.exists() and not overwrite:
        raise SystemExit(f"{out}: exists; use --overwrite to replace it")
    name = rundir.checkpoint_name(found.samples_done)
    with atomic.atomic_directory(out) as tmp:
        shutil.copyfile(run_dir / rundir.RUN_CONFIG_FILE, tmp / rundir.RUN_CONFIG_FILE)
        ckpt = tmp / name
        ckpt.mkdir()
        with atomic.atomic_file(ckpt / rundir.CHECKPOINT_ARRAYS) as fh:  # compressed: the
            np.savez_compressed(fh, weights=found.arrays.weights.astype(np.float32),  # delays
                                theta_mV=found.arrays.theta_mV,  # take 101 values
                                delays_ms=found.arrays.delays_ms.astype(np.float32))
        with atomic.atomic_file(ckpt / rundir.CHECKPOINT_DYNAMIC) as fh:
            np.savez_compressed(fh, **found.dynamic)
        rundir.write_checkpoint_state(ckpt, CheckpointState(
            samples_done=found.samples_done, seed=record.seed,
            model=record.config.model_hash(), config=config_to_dict(record.config),
            checksums={f: reading.sha256_of(ckpt / f) for f in checkpoints.CHECKPOINT_FILES}))
        lines = [f"# {out.name}: {found.samples_done:,} training samples",
                 "", f"The newest checkpoint of the run directory `{run_dir.name}` (weights and "
                 "delays in float32), "
                 f"seed {record.seed}, {record.config.n_neurons} neurons, backend "
                 f"`{record.config.backend}`. To continue it:", "", "```",
                 f"mkdir -p RUNS/{out.name}/train/checkpoints",
                 f"cp {out}/config.json RUNS/{out.name}/",
                 f"cp -r {out}/{name} RUNS/{out.name}/train/checkpoints/",
                 command or f"stdp-ray train RUNS/{out.name} --seed {record.seed} "
                            f"--neurons {record.config.n_neurons} --backend "
                            f"{record.config.backend} --samples N",
                 "```", ""]
        atomic.atomic_write_bytes(tmp / "README.md", "\n".join(lines).encode())
    logger.info("bundled %s (%d samples) into %s", found.path, found.samples_done, out)
    return out / name


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="a run directory with checkpoints")
    p.add_argument("out", type=Path, help="the bundle's directory (results/checkpoints/NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    p.add_argument("--max-mib", type=float, default=64.0,
                   help="largest dynamic state bundled, MiB (default 64)")
    p.add_argument("--command", help="the command that continues the training (README.md)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    bundle(args.run_dir, args.out, overwrite=args.overwrite, max_mib=args.max_mib,
           command=args.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
