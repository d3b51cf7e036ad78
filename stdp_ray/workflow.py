"""Run directories: train, observe and test end to end (what the CLI calls).

Each function validates its inputs once, then hands the work to
:mod:`stdp_ray.training` and :mod:`stdp_ray.evaluation`. Every file is written
atomically; nothing that could pass for a result is written when a step fails.
While one works on a run directory it holds the directory's lock
(:func:`stdp_ray.locks.directory_lock`), so a second ``stdp-ray`` process on the
same directory stops with a clear error instead of interleaving its writes; the
holder first removes temporary files that an interrupted write left behind
(:func:`stdp_ray.rundir.sweep_temporaries`). Where each file of a run directory
sits, and the records written there, are :mod:`stdp_ray.rundir`'s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from . import (artifact, atomic, checkpoints, confine, data, engines, evaluation, locks,
               provenance, reading, rundir, scoring, tracking, training)
from .errors import InputError
from .config import Config
from .network import network_fingerprint
from .options import RunOptions
from .rundir import RunMetrics, RunRecord
from .connect import ensure_ray
from .location import as_path

logger = logging.getLogger(__name__)

__all__ = ["RunError", "prepare_run", "train", "observe", "test", "run", "read_run_config",
           "run_lock", "import_network", "save_trained", "discard_derived", "check_samples",
           "MAX_TRAIN_SAMPLES", "resolve_data", "load_split", "record_data"]


class RunError(InputError):
    """A run directory cannot be used as asked."""


#: Most training samples one call may ask for (1,667 epochs of MNIST): a larger
#: count is a typo, not a plan.
MAX_TRAIN_SAMPLES = 100_000_000


def check_samples(samples: int, option: str = "--samples") -> int:
    """``samples`` if it is a sensible training length; RunError naming the limit."""
    if samples < 1:
        raise RunError(f"{option} == {samples}, must be >= 1")
    if samples > MAX_TRAIN_SAMPLES:
        raise RunError(f"{option} == {samples}, must be <= {MAX_TRAIN_SAMPLES} "
                       f"(MAX_TRAIN_SAMPLES, {MAX_TRAIN_SAMPLES // 60_000} epochs)")
    return samples


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, *, lock: bool = True, create: bool = False):
    """Hold ``run_dir``'s lock (unless ``lock`` is False: the caller holds it) and sweep it.

    With ``create`` the directory is made if missing (training starts runs);
    otherwise it must already be a run directory (RunError before anything is
    written). ``run_dir`` is registered as a root: no link below it is
    followed (:mod:`stdp_ray.confine`).
    """
    run_dir = as_path(run_dir)
    confine.add_root(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir}: exists and is not a directory")
    if not create:
        read_run_config(run_dir)
    if not lock:
        yield run_dir
        return
    with locks.directory_lock(run_dir):
        rundir.sweep_temporaries(run_dir)
        yield run_dir


def read_run_config(run_dir: Path) -> RunRecord:
    """The run's ``config.json``; RunError if the directory holds no run."""
    path = as_path(run_dir) / rundir.RUN_CONFIG_FILE
    if not path.exists():
        raise RunError(f"{run_dir}: not a run directory (no {rundir.RUN_CONFIG_FILE}); "
                       "create one with `stdp-ray train`")
    try:
        return rundir.read_run_record(run_dir)
    except reading.ArtifactError as exc:
        raise RunError(str(exc)) from exc


def prepare_run(run_dir: str | os.PathLike, cfg: Config, seed: int,
                data_used: dict | None = None) -> RunRecord:
    """Create a run directory, or check that an existing one was made with the same model and seed.

    ``data_used``, the record of the data this call reads
    (:func:`stdp_ray.data.data_record`), is stored with a new run and merged
    into an existing one's (:func:`record_data`: another data set is refused).
    """
    run_dir = as_path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir}: exists and is not a directory")
    if (run_dir / rundir.RUN_CONFIG_FILE).exists():
        old = read_run_config(run_dir)
        diff = old.config.diff(cfg)
        if diff or old.seed != seed:
            if old.seed != seed:
                diff["seed"] = (old.seed, seed)
            raise RunError(f"{run_dir}: holds a run of another configuration "
                           f"(stored vs requested: {diff}); use a new run directory")
        if data_used is not None:
            _merge_data(run_dir, old, data_used)
        return RunRecord(cfg, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = RunRecord(cfg, int(seed), provenance.provenance(), dict(data_used or {}))
    rundir.write_run_record(run_dir, record)
    return record


def stored_dataset(run_dir: str | os.PathLike) -> str | None:
    """The data set of the run in ``run_dir`` (MNIST if it records none), None if no run is there."""
    run_dir = as_path(run_dir)
    if not (run_dir / rundir.RUN_CONFIG_FILE).is_file():
        return None
    return read_run_config(run_dir).dataset


def resolve_data(run_dir: str | os.PathLike | None, options: RunOptions) -> RunOptions:
    """``options`` with the data set named: the one given, else the run's (MNIST for a new run).

    A data set the run does not record as its own is refused here, before any
    work: a run is trained, labelled and tested on one data set. A name the
    run recorded that has no published checksums is read unverified.

    Raises
    ------
    stdp_ray.data.DatasetError
        If ``options.dataset`` is given and the run in ``run_dir`` uses another.
    """
    stored = stored_dataset(run_dir) if run_dir is not None else None
    given = options.dataset
    if given is None:
        name = stored or data.DEFAULT_DATASET
        return options.replace(dataset=name, verify=options.verify and name in data.DATASETS)
    if stored is not None and given != stored:
        raise data.DatasetError(
            f"--dataset {given}: {run_dir} is a run on {stored}; one run does not mix data "
            f"sets (give --dataset {stored}, or use a new run directory)")
    return options


def data_directory(options: RunOptions) -> Path:
    """Where ``options``' data set is read from: ``--data-dir``, else its default directory."""
    return options.data_dir or data.default_data_dir(options.dataset or data.DEFAULT_DATASET)


def load_split(options: RunOptions, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``options``' data set (:func:`stdp_ray.data.load_mnist`)."""
    return data.load_mnist(data_directory(options), split,
                           dataset=options.dataset or data.DEFAULT_DATASET, verify=options.verify)


def data_used(options: RunOptions, splits: tuple[str, ...]) -> dict:
    """The record of the files of ``splits`` that ``options`` read
    (:func:`stdp_ray.data.data_record`)."""
    return data.data_record(data_directory(options), splits,
                            dataset=options.dataset or data.DEFAULT_DATASET,
                            verify=options.verify)


def record_data(run_dir: Path, options: RunOptions, splits: tuple[str, ...], *,
                write: bool = True) -> None:
    """Check the data of ``splits`` against the run's record and add it there.

    The data set must be the run's, and a file the run already read must have
    the same MD5 (another copy of the data is not mixed in); the files not yet
    recorded are added to ``config.json`` (unless ``write`` is False: the
    caller does not hold the run's lock).

    Raises
    ------
    stdp_ray.data.DatasetError
        Naming the run, the data set or the file that differs.
    """
    _merge_data(run_dir, read_run_config(run_dir), data_used(options, splits), write=write)


def _merge_data(run_dir: Path, rc: RunRecord, new: dict, write: bool = True) -> None:
    old = rc.data or {}
    if rc.dataset != new["dataset"]:
        raise data.DatasetError(
            f"--dataset {new['dataset']}: {run_dir} is a run on {rc.dataset}; one run does not "
            f"mix data sets (give --dataset {rc.dataset}, or use a new run directory)")
    files = dict(old.get("files") or {})
    for name, md5 in new["files"].items():
        if files.get(name, md5) != md5:
            raise data.DatasetError(
                f"{run_dir}: its {name} had MD5 {files[name]}, the one read now has {md5}; one "
                "run does not mix copies of the data (give the run's --data-dir, or use a new "
                "run directory)")
        files[name] = md5
    merged = {"dataset": new["dataset"],
              "verified": bool(old.get("verified", True)) and bool(new["verified"]),
              "files": files}
    if write and merged != old:
        rundir.write_run_record(run_dir, RunRecord(rc.config, rc.seed, rc.provenance, merged))


def import_network(network_dir: str | os.PathLike, run_dir: str | os.PathLike) -> RunRecord:
    """Start a run directory from a network artifact (e.g. one shipped in results/networks).

    Only the network's known files (:data:`stdp_ray.artifact.NETWORK_FILES`) are
    copied, links refused; the copy is checked, and ``config.json`` written
    only once it has succeeded: a failed import leaves no run behind.
    """
    network_dir, run_dir = as_path(network_dir), as_path(run_dir)
    if network_dir.is_symlink():
        raise RunError(f"{network_dir}: is a symbolic link; give the network directory itself")
    net = artifact.load_network(network_dir)
    seed = net.provenance.get("seed")
    if not isinstance(seed, int):
        raise RunError(f"{network_dir / artifact.NETWORK_JSON}: provenance has no integer seed")
    existed = os.path.lexists(run_dir)
    try:
        with run_lock(run_dir, create=True):
            return _import_network(network_dir, run_dir, net, seed)
    except BaseException:
        if not existed:  # made by this import: nothing of a failed one is left
            atomic.remove_path(run_dir)
        raise


def _import_network(network_dir: Path, run_dir: Path, net: artifact.Network,
                    seed: int) -> RunRecord:
    target = run_dir / rundir.NETWORK_DIR
    if os.path.lexists(target):
        existing = artifact.load_network(target)
        if network_fingerprint(existing.arrays) != network_fingerprint(net.arrays):
            raise RunError(f"{run_dir}: already holds another network; use a new run directory")
        rc = prepare_run(run_dir, net.config, seed)
        _assignments_table_if_missing(run_dir, rc)
        return rc
    if (run_dir / rundir.RUN_CONFIG_FILE).exists():
        prepare_run(run_dir, net.config, seed)  # another run's directory: RunError, no write
    with atomic.atomic_directory(target) as tmp:
        atomic.copy_known_files(network_dir, tmp, artifact.NETWORK_FILES,
                                required=(artifact.NETWORK_JSON, artifact.ARRAYS_NPZ))
        copied = artifact.load_network(tmp)  # what was copied is what was checked
        if network_fingerprint(copied.arrays) != network_fingerprint(net.arrays):
            raise RunError(f"{network_dir}: changed while it was being imported")
    rc = prepare_run(run_dir, net.config, seed)
    logger.info("%s: network imported from %s", run_dir, network_dir)
    _assignments_table_if_missing(run_dir, rc)
    return rc


def _assignments_table_if_missing(run_dir: Path, rc: RunRecord) -> None:
    """Write ``assignments.parquet`` from the run's network where it carries a label
    assignment and the run has no table yet (an imported network, observed elsewhere)."""
    if (run_dir / rundir.ASSIGNMENTS_FILE).exists():
        return
    network = artifact.load_network(run_dir / rundir.NETWORK_DIR)
    if network.assignments is None:
        return
    rundir.write_table(run_dir / rundir.ASSIGNMENTS_FILE,
                       rundir.assignments_table(network.assignments, network.class_rates),
                       identity=_identity(rc, network))


def _select(n_available: int, samples: int | None, option: str, split: str) -> np.ndarray:
    if samples is None:
        return np.arange(n_available)
    if samples < 1:
        raise RunError(f"{option} == {samples}, must be >= 1")
    if samples > n_available:
        raise RunError(f"{option} == {samples}, but the {split} set has only {n_available} "
                       "images")
    return np.arange(samples)


def train(run_dir: str | os.PathLike, cfg: Config, *, seed: int, options: RunOptions,
          network_dtype: str = "float64") -> dict:
    """Train (or resume training) the run's network to ``options.samples`` and save it.

    With ``options.eval_every`` the network is kept as a snapshot every that
    many samples (``train/snapshots``); :func:`stdp_ray.curve.evaluate_curve`
    scores them. Snapshots do not change training.
    """
    run_dir = as_path(run_dir)
    check_samples(options.required_samples())
    options = resolve_data(run_dir, options)
    images, labels = load_split(options, "train")
    with run_lock(run_dir, create=True):
        return _train(run_dir, cfg, seed, images, labels, options, network_dtype)


def _train(run_dir: Path, cfg: Config, seed: int, images: np.ndarray, labels: np.ndarray,
           options: RunOptions, network_dtype: str = "float64") -> dict:
    samples = options.required_samples()
    prepare_run(run_dir, cfg, seed, data_used(options, ("train",)))
    checkpoints.check_resumable(run_dir / rundir.TRAIN_DIR, cfg, seed, samples)
    t0 = time.perf_counter()
    arrays, summary = training.train_run(
        run_dir / rundir.TRAIN_DIR, cfg, seed, images, labels, options,
        lease=(run_dir, locks.lock_owner(run_dir)),
        on_step=lambda _k, _done: tracking.track_run(run_dir, ("train",)))
    save_trained(run_dir, cfg, arrays, seed, summary, dtype=network_dtype)
    summary["seconds"] = time.perf_counter() - t0
    logger.info("trained %d samples in %.1f s", summary["samples"], summary["seconds"])
    return summary


def run(run_dir: str | os.PathLike, cfg: Config, *, seed: int, options: RunOptions) -> dict:
    """Train, observe and test in one go, holding the run directory's lock throughout.

    Labels come from ``options.observe_samples`` training images and
    ``options.test_samples`` test images are scored. Returns the test
    metrics (see :func:`test`).
    """
    run_dir = as_path(run_dir)
    check_samples(options.required_samples())
    options = resolve_data(run_dir, options)
    # Both splits are read before anything is written (a missing one fails first).
    train_data = load_split(options, "train")
    test_data = load_split(options, "test")
    # So is every count checked against them: nothing is trained that cannot be tested.
    _select(len(train_data[0]), options.observe_samples, "--observe-samples", "training")
    _select(len(test_data[0]), options.test_samples, "--test-samples", "test")
    with run_lock(run_dir, create=True):
        _train(run_dir, cfg, seed, *train_data, options)
        _observe(run_dir, train_data, cfg.backend, options)
        return _test(run_dir, test_data, cfg.backend, options)


def _discard(run_dir: Path, phase: str, responses: bool) -> None:
    """Remove what a phase produced (its derived files; its responses too if asked)."""
    for path in rundir.derived_files(run_dir, phase):
        atomic.remove_path(path)
    if responses:
        rundir.remove_phase(rundir.phase_dir(run_dir, phase))


def save_trained(run_dir: str | os.PathLike, cfg: Config, arrays, seed: int, summary: dict,
                 dtype: str = "float64") -> Path:
    """Save a trained network into its run directory (replacing an older one).

    A rerun that trained nothing finds the same network there and leaves it
    (provenance and label assignment included). Before another network
    replaces it, everything derived from the older one is removed
    (:func:`discard_derived`): a reader of the run never finds the new network
    beside the older one's responses, assignments, predictions, metrics or
    report. The provenance records ``training_seconds``, the sum of the
    per-sample times in ``train/stats`` (all sessions of a resumed training),
    and ``training_call_seconds``, the wall time of the call that finished it.
    The training statistics are then tracked (:func:`stdp_ray.tracking.track_run`).
    """
    run_dir = as_path(run_dir)
    net_dir = run_dir / rundir.NETWORK_DIR
    old = None
    try:
        old = artifact.load_network(net_dir) if net_dir.exists() else None
    except reading.ArtifactError as exc:
        logger.warning("replacing an unreadable network: %s", exc)
    if old is not None and network_fingerprint(old.arrays) == network_fingerprint(arrays):
        logger.info("%s: the trained network is already saved there; kept as it is", net_dir)
        tracking.track_run(run_dir, ("train",), final=True)
        return net_dir
    stats_dir = run_dir / rundir.STATS_DIR
    stats = rundir.read_parts(stats_dir, rundir.TRAIN_STATS_SCHEMA) if stats_dir.is_dir() \
        else None
    sample_seconds = float(np.sum(stats.column("seconds").to_numpy())) \
        if stats is not None and stats.num_rows else summary["seconds"]
    # Results of an older network must not pass for this one's: gone before it is replaced.
    discard_derived(run_dir)
    path = artifact.save_network(net_dir, cfg, arrays, overwrite=True, dtype=dtype,
                                 prov={"seed": seed, "training_samples": summary["samples"],
                                    "training_seconds": sample_seconds,
                                    "training_call_seconds": summary["seconds"]})
    tracking.track_run(run_dir, ("train",), final=True)
    return path


def discard_derived(run_dir: str | os.PathLike) -> list[Path]:
    """Remove everything computed from a run's network; returns what was there.

    The responses of observe and test (parts and manifests), the assignments,
    predictions, metrics (:func:`stdp_ray.rundir.derived_files`) and the report
    (``report/``): what continuing a training makes stale. The learning curve
    stays: it is computed from the snapshots, which do not change.
    """
    run_dir = as_path(run_dir)
    removed = []
    for phase in rundir.PHASES:
        for path in [*rundir.derived_files(run_dir, phase), rundir.phase_dir(run_dir, phase)]:
            if os.path.lexists(path) and path not in removed:
                removed.append(path)
        _discard(run_dir, phase, responses=True)
    report = run_dir / rundir.REPORT_DIR
    if report.is_dir():
        removed.append(report)
        for path in sorted(report.iterdir()):
            if path.name != locks.LOCK_FILE:  # a report being written keeps its lock
                atomic.remove_path(path)
    if removed:
        logger.info("%s: removed what the older network computed: %s", run_dir,
                    ", ".join(str(p.relative_to(run_dir)) for p in removed))
    return removed


def _load(run_dir: Path, backend: str | None) -> tuple[RunRecord, artifact.Network]:
    rc = read_run_config(run_dir)
    net_dir = run_dir / rundir.NETWORK_DIR
    if not net_dir.exists():
        raise RunError(f"{run_dir}: no trained network in {net_dir}; run `stdp-ray train` first")
    network = artifact.load_network(net_dir, expect=rc.config)
    cfg = network.config
    if backend:
        cfg = cfg.replace(backend=backend)
    return RunRecord(engines.resolve(cfg), rc.seed, rc.provenance, rc.data), network


def _identity(rc: RunRecord, network: artifact.Network) -> dict:
    """What a run's table was computed from: seed, network hash, model (config) hash."""
    return {"seed": int(rc.seed), "network": network_fingerprint(network.arrays),
            "config": rc.config.model_hash()}


def _observe_samples(run_dir: Path) -> int | None:
    manifest = rundir.read_manifest(rundir.phase_dir(run_dir, "observe"))
    return int(manifest.n_samples) if manifest is not None else None


def _split(loaded: tuple[np.ndarray, np.ndarray] | None, split: str,
           options: RunOptions) -> tuple[np.ndarray, np.ndarray]:
    """Already loaded (images, labels), else ``split`` read from ``options.data_dir``."""
    if loaded is not None:
        return loaded
    return load_split(options, split)


def observe(run_dir: str | os.PathLike, options: RunOptions = RunOptions(), *,
            backend: str | None = None,
            lock: bool = True, train_data: tuple[np.ndarray, np.ndarray] | None = None,
            option: str = "--observe-samples") -> dict:
    """Present ``options.observe_samples`` training images to the frozen network and assign
    each neuron a class.

    ``backend`` replaces the run's engine; ``train_data``, the training split
    already read (else it is read from ``options.data_dir``); ``option``, the
    name messages give the count (``stdp-ray observe`` calls it ``--samples``).
    ``lock=False`` only where the caller holds the run directory's lock.
    """
    run_dir = as_path(run_dir)
    with run_lock(run_dir, lock=lock):
        return _observe(run_dir, train_data, backend, options, option)


def _observe(run_dir: Path, train_data, backend: str | None, options: RunOptions,
             option: str = "--observe-samples") -> dict:
    """``train_data``: the (images, labels) of the training split, or None to read it."""
    rc, network = _load(run_dir, backend)
    options = resolve_data(run_dir, options)
    images, labels = _split(train_data, "train", options)
    ids = _select(len(images), options.observe_samples, option, "training")
    record_data(run_dir, options, ("train",))
    phase_dir = rundir.phase_dir(run_dir, "observe")
    if options.overwrite:
        _discard(run_dir, "observe", responses=True)
    info = evaluation.run_phase(phase_dir, rc.config, network.arrays, images[ids], labels[ids],
                                ids, seed=rc.seed, phase="observe", options=options)
    responses = evaluation.responses(phase_dir)
    assignments, rates = evaluation.assignment_from_responses(responses)
    rundir.write_table(run_dir / rundir.ASSIGNMENTS_FILE,
                       rundir.assignments_table(assignments, rates),
                       identity=_identity(rc, network))
    artifact.save_assignments(run_dir / rundir.NETWORK_DIR, rc.config, assignments, rates)
    info["classes_covered"] = int(len(np.unique(assignments)))
    logger.info("observed %d samples in %.1f s; neurons cover %d classes", len(ids),
                info["seconds"], info["classes_covered"])
    return info


def test(run_dir: str | os.PathLike, options: RunOptions = RunOptions(), *,
         backend: str | None = None,
         lock: bool = True, test_data: tuple[np.ndarray, np.ndarray] | None = None,
         option: str = "--test-samples") -> dict:
    """Score ``options.test_samples`` test images (None: all 10,000, each once, in order);
    writes metrics.json.

    ``backend``, ``test_data``, ``option`` and ``lock`` as in :func:`observe`.
    """
    run_dir = as_path(run_dir)
    with run_lock(run_dir, lock=lock):
        return _test(run_dir, test_data, backend, options, option)


def _test(run_dir: Path, test_data, backend: str | None, options: RunOptions,
          option: str = "--test-samples") -> dict:
    """``test_data``: the (images, labels) of the test split, or None to read it."""
    rc, network = _load(run_dir, backend)
    if network.assignments is None:
        raise RunError(f"{run_dir}: the network has no label assignment; run "
                       "`stdp-ray observe` first")
    options = resolve_data(run_dir, options)
    images, labels = _split(test_data, "test", options)
    ids = _select(len(images), options.test_samples, option, "test")
    record_data(run_dir, options, ("test",))
    phase_dir = rundir.phase_dir(run_dir, "test")
    if options.overwrite:
        _discard(run_dir, "test", responses=True)
    t0 = time.perf_counter()
    info = evaluation.run_phase(phase_dir, rc.config, network.arrays, images[ids], labels[ids],
                                ids, seed=rc.seed, phase="test", options=options)
    responses = evaluation.responses(phase_dir)
    preds = evaluation.predictions_from_responses(responses, network.assignments)
    rundir.write_table(run_dir / rundir.PREDICTIONS_FILE, preds,
                       identity=_identity(rc, network))
    y = preds.column("label").to_numpy().astype(np.int64)
    p = preds.column("predicted").to_numpy().astype(np.int64)
    metrics = RunMetrics(
        accuracy=scoring.accuracy(y, p),
        confusion_matrix=scoring.confusion_matrix(y, p).tolist(),
        n_samples=int(len(y)),
        n_failed=int(np.sum(responses.column("failed").to_numpy())),
        mean_presentations=float(np.mean(responses.column("presentations").to_numpy())),
        mean_spikes=float(np.mean(responses.column("total_spikes").to_numpy())),
        wall_seconds=time.perf_counter() - t0,
        simulate_seconds=info["seconds"],
        chunks=info["chunks"], chunks_computed=info["computed"],
        chunk_size=info["chunk_size"],
        workers=options.workers or _cluster_cpus(),
        nodes=len({v["node"] for v in info["placement"].values()}),
        chunk_nodes={str(c): v["node"] for c, v in sorted(info["placement"].items())},
        backend=rc.config.backend, seed=rc.seed,
        network=network_fingerprint(network.arrays),
        n_neurons=rc.config.n_neurons,
        training_samples=network.provenance.get("training_samples"),
        observe_samples=_observe_samples(run_dir),
        provenance=provenance.provenance(),
    )
    kept = _unchanged_metrics(run_dir, metrics) if info["computed"] == 0 else None
    if kept is not None:
        # Nothing was simulated: the metrics of the run that computed these
        # responses (its wall time, placement, commit) stay the record.
        logger.info("test accuracy %.4f on %d samples: nothing recomputed, %s kept",
                    kept.accuracy, len(y), rundir.METRICS_FILE)
        return {**kept.to_dict(), "chunks_computed": 0, "placement": {}}
    rundir.write_metrics(run_dir, metrics)
    tracking.track_run(run_dir, ("test",))
    logger.info("test accuracy %.4f on %d samples (%.1f s)", metrics.accuracy, len(y),
                metrics.wall_seconds)
    return {**metrics.to_dict(), "placement": info["placement"]}


def _cluster_cpus() -> int:
    """CPUs of the Ray cluster (started or joined now if it is not yet)."""
    import ray

    ensure_ray()
    return int(ray.cluster_resources().get("CPU", 1))


#: What must agree for a test that recomputed nothing to keep the earlier metrics.json.
_SAME_RESULT_FIELDS = ("accuracy", "confusion_matrix", "n_samples", "n_failed", "network",
                       "chunk_size", "seed", "n_neurons", "observe_samples")


def _unchanged_metrics(run_dir: Path, metrics: RunMetrics) -> RunMetrics | None:
    """The run's metrics.json if it describes the same result as ``metrics``."""
    try:
        old = rundir.read_metrics(run_dir)
    except reading.ArtifactError:
        return None
    if old is None:
        return None
    same = all(getattr(old, k) == getattr(metrics, k) for k in _SAME_RESULT_FIELDS)
    return old if same else None
