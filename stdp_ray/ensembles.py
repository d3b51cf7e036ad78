"""Multi-seed ensembles: K networks trained at once, scored alone and combined.

An ensemble root holds one ordinary run directory per seed plus the settings,
the combined predictions and the metrics (its layout and records:
:mod:`stdp_ray.rundir`).

Members are combined by summing their per-class scores (NaN, a class with no
neuron, counts as 0) and by majority vote of their predictions; "K" takes the
first K members in seed order. Rerunning resumes whatever is unfinished:
training from checkpoints, evaluation from written chunks. A member whose
network was saved after all its samples and which has no checkpoint (pruned,
or a run trained elsewhere and copied in as ``seed=N/``) is used as it is, not
trained again (:func:`trained_member`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np

from . import artifact, checkpoints, provenance, rundir, scoring, training, workflow
from .config import Config
from .location import as_path
from .locks import directory_lock, lock_owner
from .network import NUM_CLASSES
from .options import RunOptions
from .rundir import EnsembleMember, EnsembleMetrics, EnsembleSettings, member_dir

logger = logging.getLogger(__name__)

__all__ = ["combine_members", "run_ensemble", "parse_seeds", "check_seeds", "trained_member"]


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]`` (distinct integers, at least one)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds == {text!r}, must be comma-separated integers") from None
    return check_seeds(seeds, shown=repr(text))


def check_seeds(seeds, shown: str | None = None) -> list[int]:
    """``seeds`` as a list of distinct ints in 0..2**31-1 (at least one), else an error."""
    shown = shown or repr(seeds)
    if isinstance(seeds, (str, bytes)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
        raise TypeError(f"seeds == {shown}, must be a sequence of ints")
    seeds = [int(s) for s in seeds]
    if any(not 0 <= s < 2**31 for s in seeds):
        raise ValueError(f"--seeds == {shown}, seeds must be in 0..{2**31 - 1}")
    if not seeds:
        raise ValueError(f"--seeds == {shown}, must name >= 1 seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds == {shown}, seeds must be distinct")
    return seeds


def combine_members(labels: np.ndarray, member_scores: list[np.ndarray]) -> dict:
    """Combine members' per-class scores; accuracy of each rule for K = 1..len(members).

    Parameters
    ----------
    labels : ndarray, (n,)
        True classes of the test samples (the same samples, same order, for all).
    member_scores : list of ndarray, each (n, 10)
        Per-class scores of each member, in member order.

    Returns
    -------
    dict
        ``members`` (accuracy of each), ``k``, ``accuracy_sum``, ``accuracy_vote``
        (lists over K), ``predicted_sum`` and ``predicted_vote`` (arrays for all
        members), ``scores_sum`` (n, 10).
    """
    if not member_scores:
        raise ValueError("member_scores is empty, must hold >= 1 member")
    labels = np.asarray(labels)
    for k, s in enumerate(member_scores):
        if np.shape(s) != (len(labels), NUM_CLASSES):
            raise ValueError(f"member {k} scores have shape {np.shape(s)}, must be "
                             f"({len(labels)}, {NUM_CLASSES})")
    preds = [scoring.predict(s) for s in member_scores]
    acc_sum, acc_vote = [], []
    for k in range(1, len(member_scores) + 1):
        acc_sum.append(scoring.accuracy(labels, scoring.predict(
            scoring.combine_scores(member_scores[:k]))))
        acc_vote.append(scoring.accuracy(labels, scoring.majority_vote(preds[:k])))
    total = scoring.combine_scores(member_scores)
    return {"members": [scoring.accuracy(labels, p) for p in preds],
            "k": list(range(1, len(member_scores) + 1)),
            "accuracy_sum": acc_sum, "accuracy_vote": acc_vote,
            "predicted_sum": scoring.predict(total),
            "predicted_vote": scoring.majority_vote(preds), "scores_sum": total}


def _prepare_root(root: Path, settings: EnsembleSettings) -> None:
    if (root / rundir.ENSEMBLE_FILE).exists():
        old = rundir.read_ensemble_settings(root)
        if old.config is None or old.config.diff(settings.config) or old.seeds != settings.seeds:
            raise workflow.RunError(f"{root}: holds an ensemble of another configuration or "
                                    f"seeds ({old.seeds}); use a new directory")
        return
    root.mkdir(parents=True, exist_ok=True)
    rundir.write_ensemble_settings(root, settings)


def run_ensemble(root: str | os.PathLike, cfg: Config, seeds: list[int],
                 options: RunOptions) -> dict:
    """Train every member at once, observe and test each, combine; returns the metrics.

    Each member trains on ``options.samples``, takes its labels from
    ``options.observe_samples`` training images and is scored on
    ``options.test_samples`` test images.
    """
    root = as_path(root)
    samples = workflow.check_samples(options.required_samples())
    seeds = check_seeds(seeds)
    options = workflow.resolve_data(None, options)
    images, labels = workflow.load_split(options, "train")
    # Every count is checked before anything is trained (the test split read for it).
    workflow._select(len(images), options.observe_samples, "--observe-samples", "training")
    workflow._select(len(workflow.load_split(options, "test")[0]), options.test_samples,
                     "--test-samples", "test")
    if root.exists() and not root.is_dir():
        raise workflow.RunError(f"{root}: exists and is not a directory")
    # The root's lock, then every member's, held to the end: no other process
    # trains or evaluates any of them meanwhile.
    with contextlib.ExitStack() as locks:
        locks.enter_context(directory_lock(root))
        rundir.sweep_temporaries(root, recursive=False)
        _prepare_root(root, EnsembleSettings(cfg, seeds, samples=samples,
                                             observe_samples=options.observe_samples,
                                             test_samples=options.test_samples))
        for seed in seeds:
            locks.enter_context(workflow.run_lock(member_dir(root, seed), create=True))
        return _run_ensemble(root, cfg, seeds, (images, labels), options)


def trained_member(run_dir: str | os.PathLike, cfg: Config, seed: int,
                   samples: int) -> bool:
    """Whether ``run_dir`` holds a member already trained on all ``samples``
    that has no checkpoint to resume from.

    Such a member's network (``network/``, saved by training with its seed
    and ``training_samples`` in the provenance, loaded and checked against
    ``cfg``) is the result: it is used as it is. A member with a checkpoint
    resumes from it instead, as every member does.

    Raises
    ------
    workflow.RunError
        If the saved network records another seed or more training samples
        than ``samples``.
    """
    run_dir = as_path(run_dir)
    train_dir = run_dir / rundir.TRAIN_DIR
    if checkpoints.check_resumable(train_dir, cfg, seed, samples) > 0:
        return False
    net_dir = run_dir / rundir.NETWORK_DIR
    if not net_dir.is_dir():
        return False
    prov = artifact.load_network(net_dir, expect=cfg).provenance
    trained, net_seed = prov.get("training_samples"), prov.get("seed")
    if net_seed is not None and int(net_seed) != int(seed):
        raise workflow.RunError(f"{net_dir}: a network of seed {net_seed}, in the member "
                                f"directory of seed {seed}")
    if trained is None or int(trained) < samples:
        return False
    if int(trained) > samples:
        raise workflow.RunError(f"--samples == {samples}, but {net_dir} was trained on "
                                f"{int(trained)} samples; use a new ensemble directory")
    return True


def _run_ensemble(root: Path, cfg: Config, seeds: list[int],
                  train_data: tuple[np.ndarray, np.ndarray], options: RunOptions) -> dict:
    samples = options.required_samples()
    to_train = []
    data_used = workflow.data_used(options, ("train",))
    for seed in seeds:
        workflow.prepare_run(member_dir(root, seed), cfg, seed, data_used)
        if trained_member(member_dir(root, seed), cfg, seed, samples):
            logger.info("member seed %d: trained on %d samples already (%s); not trained again",
                        seed, samples, member_dir(root, seed) / rundir.NETWORK_DIR)
        else:
            to_train.append(seed)
    if to_train:
        jobs = [(member_dir(root, s) / rundir.TRAIN_DIR, s) for s in to_train]
        trained = training.train_many(jobs, cfg, *train_data, options,
                                      lease=(root, lock_owner(root)))
        for seed, (arrays, summary) in zip(to_train, trained):
            workflow.save_trained(member_dir(root, seed), cfg, arrays, seed, summary)
    member_metrics = []
    for seed in seeds:
        run = member_dir(root, seed)
        logger.info("member seed %d: observe and test", seed)
        workflow.observe(run, options, lock=False, train_data=train_data)
        member_metrics.append(workflow.test(run, options, lock=False))
    frames = [rundir.read_table(member_dir(root, s) / rundir.PREDICTIONS_FILE).to_pandas()
              for s in seeds]
    for s, f in zip(seeds[1:], frames[1:]):
        if not np.array_equal(f["sample"].to_numpy(), frames[0]["sample"].to_numpy()):
            raise workflow.RunError(f"{member_dir(root, s)}: tested other samples than "
                                    f"{member_dir(root, seeds[0])}")
    label = frames[0]["label"].to_numpy()
    combined = combine_members(label, [np.stack(f["scores"].to_numpy()) for f in frames])
    table = rundir.ensemble_predictions_table(
        frames[0]["sample"].to_numpy(), label, combined["predicted_sum"],
        combined["predicted_vote"], combined["scores_sum"])
    rundir.write_table(root / rundir.ENSEMBLE_PREDICTIONS_FILE, table)
    metrics = EnsembleMetrics(
        members=[EnsembleMember(seed=s, accuracy=a, run_dir=member_dir(root, s).name,
                                training_samples=m.get("training_samples"))
                 for s, a, m in zip(seeds, combined["members"], member_metrics)],
        mean_member_accuracy=float(np.mean(combined["members"])),
        k=combined["k"], accuracy_sum=combined["accuracy_sum"],
        accuracy_vote=combined["accuracy_vote"],
        ensemble_accuracy_sum=combined["accuracy_sum"][-1],
        ensemble_accuracy_vote=combined["accuracy_vote"][-1],
        n_samples=int(len(label)), n_neurons=cfg.n_neurons, samples=samples,
        observe_samples=options.observe_samples, provenance=provenance.provenance(),
    )
    rundir.write_ensemble_metrics(root, metrics)
    logger.info("ensemble of %d: accuracy %.4f (sum), %.4f (vote); mean member %.4f",
                len(seeds), metrics.ensemble_accuracy_sum, metrics.ensemble_accuracy_vote,
                metrics.mean_member_accuracy)
    return metrics.to_dict()
