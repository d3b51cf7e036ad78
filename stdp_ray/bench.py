"""Side-by-side benchmark of the engines, and their identity on real data.

:func:`run_benchmark` runs every engine (native, fast, standalone, runtime)
on the same samples of the real data, in one process, one after another, for
one or more network sizes: training from the same initial network (the
Brian2 engines on fewer samples: they are slow), with each thread count of
the engines that use threads, then frozen evaluation of the same test images
at each batch size (samples per simulator call). It times each (build or
compile cost apart, as the first sample or pass), checks that the exact
engines agree bit for bit on the samples they share, measures how closely
the fast engine follows the exact one, and writes a JSON record and a
Markdown table with the command and commit.

:func:`verify_identity` is the longer check on real data: the responses of a
trained network to thousands of test images, and the weights and theta after
hundreds of plastic samples, native against standalone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import data, engines, evaluation, model
from .config import Config
from .network import FrozenNetwork, network_fingerprint
from .artifact import load_network
from .atomic import atomic_write_bytes, atomic_write_json
from .provenance import git_commit, provenance
from .trainer import Trainer, initial_network

logger = logging.getLogger(__name__)

__all__ = ["run_benchmark", "verify_identity", "machine_info", "format_report", "git_commit",
           "DEFAULT_TRAIN", "DEFAULT_EVAL"]

#: Training samples timed per engine (after one warm-up sample).
DEFAULT_TRAIN = {"native": 100, "fast": 300, "standalone": 10, "runtime": 5}
#: Test images evaluated per engine (after one warm-up pass).
DEFAULT_EVAL = {"native": 500, "fast": 1000, "standalone": 100, "runtime": 20}
#: Engines that agree bit for bit (the identity check); the others are compared by statistics.
EXACT = engines.EXACT_ENGINES
#: Engines whose training uses threads.
THREADED = ("native", "fast")


def machine_info() -> dict:
    """CPU model, cores, memory and platform of this machine."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1) if mem else None,
            "platform": platform.platform(), "python": platform.python_version()}


def _peak_mib() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"python_process_mib": round(own, 1), "largest_child_mib": round(children, 1)}


def _state_digest(trainer: Trainer) -> str:
    """Hash of a trainer's weights, theta and every dynamic variable (bit for bit)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(trainer.sim.get_weights()).tobytes())
    h.update(np.ascontiguousarray(trainer.sim.get_theta_mV()).tobytes())
    state = trainer.sim.dynamic_state()
    for key in sorted(state):
        h.update(key.encode())
        h.update(np.ascontiguousarray(state[key]).tobytes())
    return h.hexdigest()[:16]


def _time_training(cfg: Config, seed: int, images, labels, n: int, common: int, workdir: Path,
                   threads: int = 1) -> dict:
    """One warm-up sample (build, compilation), then ``n`` timed samples.

    The state after ``common`` samples (warm-up included) is hashed for the
    identity check between engines.
    """
    t0 = time.perf_counter()
    trainer = Trainer(cfg, seed, workdir, images, labels, checkpoint_every=10**9,
                      threads=threads)
    trainer.train_one()
    warmup = time.perf_counter() - t0
    digest = _state_digest(trainer) if common == 1 else None
    seconds = 0.0
    for k in range(n):
        t0 = time.perf_counter()
        trainer.train_one()
        seconds += time.perf_counter() - t0
        if k + 2 == common:
            digest = _state_digest(trainer)
    rows = trainer._rows
    return {"samples": n, "seconds": seconds, "ms_per_sample": 1e3 * seconds / n,
            "first_sample_seconds": warmup, "threads": threads,
            "presentations": int(sum(r["presentations"] for r in rows[1:])),
            "rows": [(r["total_spikes"], r["presentations"], r["theta_mean_mV"], r["w_std"])
                     for r in rows], "digest": digest}


def _time_eval(cfg: Config, arrays: FrozenNetwork, images, ids, chunk: int) -> dict:
    """Build the simulator and run one pass (warm-up), then evaluate ``ids`` in chunks."""
    t0 = time.perf_counter()
    sim = engines.make_frozen_simulator(cfg, arrays, chunk)
    sim.prepare()
    evaluation.simulate_samples(sim, cfg, images[:1], ids[:1], seed=0,
                                stream=model.STREAMS["test"], n_slots=chunk)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluation.simulate_samples(sim, cfg, images, ids, seed=0,
                                      stream=model.STREAMS["test"], n_slots=chunk)
    seconds = time.perf_counter() - t0
    return {"samples": len(ids), "seconds": seconds, "ms_per_sample": 1e3 * seconds / len(ids),
            "first_pass_seconds": warmup, "presentations": int(res.presentations.sum()),
            "mean_spikes": float(res.counts.sum(axis=1).mean()), "counts": res.counts}


def _network(cfg: Config, seed: int, network_dir) -> tuple[Config, FrozenNetwork, str]:
    if network_dir:
        net = load_network(network_dir)
        if net.config.n_neurons != cfg.n_neurons:
            raise ValueError(f"--network {network_dir} has {net.config.n_neurons} neurons, "
                             f"--neurons asks for {cfg.n_neurons}")
        return net.config.replace(backend=cfg.backend), net.arrays, str(network_dir)
    start = initial_network(cfg, seed)
    arrays = FrozenNetwork(model.normalize_weights(start.weights, cfg.weight_sum),
                           start.theta_mV, start.delays_ms)
    return cfg, arrays, f"untrained (seed {seed}, weights normalised)"


def _key(engine: str, threads: int = 1, batch: int | None = None) -> str:
    """A row of the benchmark: ``fast``, ``fast-2threads``, ``fast-batch10``."""
    if threads > 1:
        return f"{engine}-{threads}threads"
    return f"{engine}-batch{batch}" if batch is not None else engine


def _agreement(counts: np.ndarray, reference: np.ndarray) -> dict:
    """How closely one engine's responses follow the reference's on the same images."""
    return {"images": int(len(reference)),
            "identical_responses": float(np.mean(np.all(counts == reference, axis=1))),
            "same_most_active_neuron": float(np.mean(counts.argmax(axis=1)
                                                     == reference.argmax(axis=1))),
            "spikes_ratio": float(counts.sum() / max(reference.sum(), 1))}


def _bench_size(neurons: int, engine_names, train: dict, evaluate: dict, threads: list[int],
                batches: list[int], train_data, test_data, seed: int, network_dir,
                chunk: int) -> dict:
    cfg, arrays, label = _network(Config(n_neurons=neurons), seed, network_dir)
    out: dict = {"neurons": neurons, "network": label, "training": {}, "evaluation": {}}
    timed_train = [e for e in engine_names if train.get(e, 0) > 0]
    exact = [e for e in engine_names if e in EXACT]
    if timed_train:
        common = 1 + min(train[e] for e in timed_train)
        runs = [(e, t) for e in timed_train for t in (threads if e in THREADED else [1])]
        rows = {}
        with tempfile.TemporaryDirectory() as tmp:
            for e, t in runs:
                logger.info("n=%d training: %s, %d thread(s), %d samples", neurons, e, t, train[e])
                result = _time_training(cfg.replace(backend=e), seed, *train_data, train[e],
                                        common, Path(tmp) / f"{e}-{t}", threads=t)
                rows[_key(e, t)] = result.pop("rows")
                result["engine"] = e
                out["training"][_key(e, t)] = result
        results = out["training"]
        same = [k for k, r in results.items() if r["engine"] in exact]
        if same:
            out["training_identical"] = all(
                rows[k][:common] == rows[same[0]][:common]
                and results[k]["digest"] == results[same[0]]["digest"] for k in same)
            out["training_common_samples"] = common
        if "fast" in results and same:
            ref = np.array(rows[same[0]][:common], dtype=float)
            fst = np.array(rows["fast"][:common], dtype=float)
            out["training_fast_vs_exact"] = {
                "samples": common, "mean_spikes": [float(ref[:, 0].mean()),
                                                   float(fst[:, 0].mean())],
                "mean_presentations": [float(ref[:, 1].mean()), float(fst[:, 1].mean())],
                "identical_responses": float(np.mean(np.all(ref[:, :2] == fst[:, :2], axis=1)))}
    timed_eval = [e for e in engine_names if evaluate.get(e, 0) > 0]
    if timed_eval:
        test_x = test_data[0]
        counts = {}
        for e in timed_eval:
            n = evaluate[e]
            for b in batches:
                key = _key(e, batch=b if len(batches) > 1 else None)
                logger.info("n=%d evaluation: %s, %d test images, batch %d", neurons, e, n, b)
                r = _time_eval(cfg.replace(backend=e), arrays, test_x[:n], np.arange(n), b)
                counts[key] = r.pop("counts")
                r["engine"], r["batch"] = e, b
                out["evaluation"][key] = r
        common = min(evaluate[e] for e in timed_eval)
        same = [k for k, r in out["evaluation"].items() if r["engine"] in exact]
        if same:
            ref = counts[same[0]][:common]
            out["evaluation_identical"] = all(np.array_equal(counts[k][:common], ref)
                                              for k in same)
            out["evaluation_common_samples"] = common
            fast_keys = [k for k, r in out["evaluation"].items() if r["engine"] == "fast"]
            if fast_keys:
                out["evaluation_fast_vs_exact"] = _agreement(counts[fast_keys[0]][:common], ref)
    return out


def run_benchmark(*, neurons=(400,), engine_names=engines.ENGINES, train: dict | None = None,
                  evaluate: dict | None = None, threads=(1,), batches=None, data_dir=None,
                  network_dir=None, seed: int = 42, chunk: int = 50, out_dir="results",
                  name: str | None = None) -> dict:
    """Time every engine on the same real samples, for each network size; write the figures.

    Parameters
    ----------
    neurons : sequence of int
        Network sizes (excitatory neurons).
    engine_names : sequence of str
        Engines to run, the first is the one the others are compared with.
    train, evaluate : dict, optional
        Samples timed per engine (:data:`DEFAULT_TRAIN`, :data:`DEFAULT_EVAL`); 0 skips.
    threads : sequence of int
        Thread counts of the training of the engines that use threads (native, fast).
    batches : sequence of int, optional
        Batch sizes of evaluation: samples per simulator call (default: ``chunk``).
    network_dir : path, optional
        A trained network to evaluate and train from (one size only).
    out_dir : path
        Where ``<name>.json`` and ``<name>.md`` are written (``name`` defaults to
        ``bench-n<sizes>``).
    """
    unknown = sorted(set(engine_names) - set(engines.ENGINES))
    if unknown:
        raise ValueError(f"engines {unknown} unknown, must be among {engines.ENGINES}")
    train = {**DEFAULT_TRAIN, **(train or {})}
    evaluate = {**DEFAULT_EVAL, **(evaluate or {})}
    data_dir = data_dir or data.default_data_dir()
    train_data = data.load_mnist(data_dir, "train")
    test_data = data.load_mnist(data_dir, "test")
    report = {"command": "stdp-ray " + " ".join(shlex.quote(a) for a in sys.argv[1:])
              if Path(sys.argv[0]).name in ("stdp-ray", "bench.py") else None,
              "commit": git_commit(), "machine": machine_info(), "provenance": provenance(),
              "engines": list(engine_names), "train_samples": train, "eval_samples": evaluate,
              "chunk_size": chunk, "sizes": []}
    batches = [int(b) for b in (batches or [chunk])]
    report["batches"] = batches
    for n in neurons:
        report["sizes"].append(_bench_size(int(n), list(engine_names), train, evaluate,
                                           [int(t) for t in threads], batches, train_data,
                                           test_data, seed, network_dir, chunk))
    report["peak_memory"] = _peak_mib()
    name = name or "bench-n" + "-".join(str(n) for n in neurons)
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / f"{name}.json", report)
    atomic_write_bytes(out_dir / f"{name}.md", (format_report(report) + "\n").encode())
    report["written_to"] = str(out_dir / f"{name}.json")
    return report


def format_report(r: dict) -> str:
    """The benchmark as a Markdown table (ms per sample; ratio to the native engine)."""
    lines = [f"# stdp-ray benchmark (commit {r['commit']})", "",
             f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, "
             f"{r['machine']['memory_gib']} GiB, Python {r['machine']['python']}. "
             "One core per engine unless threads say otherwise; every engine on the same "
             "samples of the real MNIST, one after another in one process.", ""]
    if r.get("command"):
        lines += [f"Command: `{r['command']}`", ""]
    lines += ["Ratios are the native engine's time (one thread) over each row's "
              "(above 1: faster than native). Batch: test images per simulator call.", "",
              "| neurons | engine | threads | train ms/sample | samples | batch | "
              "eval ms/image | images | native / train time | native / eval time |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in r["sizes"]:
        t, e = size["training"], size["evaluation"]
        nt = t.get("native", {}).get("ms_per_sample")
        ne = next((v["ms_per_sample"] for v in e.values() if v.get("engine") == "native"), None)
        for key in list(dict.fromkeys([*t, *e])):
            tr, ev = t.get(key, {}), e.get(key, {})
            engine = tr.get("engine") or ev.get("engine") or key
            lines.append(
                f"| {size['neurons']} | {engine} | {tr.get('threads', '-')} | {_ms(tr)} | "
                f"{tr.get('samples', '-')} | {ev.get('batch', '-')} | {_ms(ev)} | "
                f"{ev.get('samples', '-')} | {_ratio(nt, tr)} | {_ratio(ne, ev)} |")
    lines.append("")
    for size in r["sizes"]:
        parts = [f"n={size['neurons']} ({size['network']}):"]
        if "training_identical" in size:
            parts.append(f"exact engines' training identical on the first "
                         f"{size['training_common_samples']} samples (responses, weights, theta, "
                         f"state): {size['training_identical']};")
        if "evaluation_identical" in size:
            parts.append(f"exact engines' responses identical on the first "
                         f"{size['evaluation_common_samples']} test images: "
                         f"{size['evaluation_identical']}.")
        agree = size.get("evaluation_fast_vs_exact")
        if agree:
            parts.append(f"Fast vs exact on those {agree['images']} images: identical responses "
                         f"{100 * agree['identical_responses']:.1f} %, same most active neuron "
                         f"{100 * agree['same_most_active_neuron']:.1f} %, spikes x "
                         f"{agree['spikes_ratio']:.4f}.")
        tagree = size.get("training_fast_vs_exact")
        if tagree:
            parts.append(f"Fast vs exact training, first {tagree['samples']} samples: spikes per "
                         f"sample {tagree['mean_spikes'][1]:.2f} vs {tagree['mean_spikes'][0]:.2f}, "
                         f"presentations {tagree['mean_presentations'][1]:.3f} vs "
                         f"{tagree['mean_presentations'][0]:.3f}.")
        for key, tr in size["training"].items():
            parts.append(f"{key}: one epoch (60,000 samples) "
                         f"{60000 * tr['ms_per_sample'] / 6e4:.1f} min.")
        lines.append(" ".join(parts))
    return "\n".join(lines)


def _ms(section: dict) -> str:
    return f"{section['ms_per_sample']:.2f}" if section.get("ms_per_sample") else "-"


def _ratio(native_ms: float | None, section: dict) -> str:
    if not section.get("ms_per_sample") or not native_ms:
        return "-"
    return f"{native_ms / section['ms_per_sample']:.1f}x"


def verify_identity(*, network_dir, data_dir=None, eval_images: int = 2000,
                    train_samples: int = 500, neurons: int = 400, seed: int = 42,
                    chunk: int = 50, reference: str = "standalone", out_dir="results") -> dict:
    """Native against a Brian2 engine on real data; writes ``identity-n<N>.json``.

    Responses of the trained network in ``network_dir`` to the first
    ``eval_images`` test images, and the complete state (weights, theta,
    every dynamic variable) after ``train_samples`` plastic samples of a fresh
    ``neurons`` network trained from the same initial state.
    """
    data_dir = data_dir or data.default_data_dir()
    test_x, _ = data.load_mnist(data_dir, "test")
    train_x, train_y = data.load_mnist(data_dir, "train")
    net = load_network(network_dir)
    ids = np.arange(eval_images)
    out: dict = {"commit": git_commit(), "machine": machine_info(), "reference": reference,
                 "network": str(network_dir), "network_hash": network_fingerprint(net.arrays)}
    counts, times = {}, {}
    for e in ("native", reference):
        t0 = time.perf_counter()
        sim = engines.make_frozen_simulator(net.config.replace(backend=e), net.arrays, chunk)
        res = evaluation.simulate_samples(sim, net.config, test_x[:eval_images], ids, seed=0,
                                          stream=model.STREAMS["test"], n_slots=chunk)
        counts[e], times[e] = res.counts, time.perf_counter() - t0
    out["evaluation"] = {"images": eval_images,
                         "identical": bool(np.array_equal(counts["native"], counts[reference])),
                         "mean_spikes": float(counts["native"].sum(axis=1).mean()),
                         "seconds": times}
    cfg = Config(n_neurons=neurons)
    digests, rows, times = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for e in ("native", reference):
            t0 = time.perf_counter()
            trainer = Trainer(cfg.replace(backend=e), seed, Path(tmp) / e, train_x, train_y,
                              checkpoint_every=10**9)
            for _ in range(train_samples):
                trainer.train_one()
            digests[e] = _state_digest(trainer)
            rows[e] = [(r["total_spikes"], r["presentations"]) for r in trainer._rows]
            times[e] = time.perf_counter() - t0
    out["training"] = {"samples": train_samples, "neurons": neurons, "seed": seed,
                       "identical": digests["native"] == digests[reference]
                       and rows["native"] == rows[reference],
                       "state_digest": digests, "presentations": sum(p for _, p in rows["native"]),
                       "seconds": times}
    path = Path(out_dir) / f"identity-n{neurons}.json"
    atomic_write_json(path, out)
    out["written_to"] = str(path)
    return out
