"""Side-by-side benchmark: the reference path against the fast path, in one process.

Reference: Brian2's Cython runtime, one process, the seed's procedure (one
persistent plastic network, one sample at a time; frozen evaluation as runtime
passes). Fast: the compiled C++ standalone binary, reused for every sample or
chunk. Both run the same samples of the real data in the same invocation; the
fast path's results are checked against the reference's (they are
bit-identical by construction).
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from . import backends, data, evaluation, model, scoring
from .config import Config
from .state import atomic_write_json, git_commit, load_network, provenance
from .training import Trainer, initial_network

logger = logging.getLogger(__name__)

__all__ = ["run_benchmark", "machine_info", "git_commit"]


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


def _time_training(cfg: Config, seed: int, images, labels, n: int, workdir: Path) -> dict:
    """Train ``n`` samples (plus one warm-up sample, compilation included) and time them."""
    trainer = Trainer(cfg, seed, workdir, images, labels, checkpoint_every=10**9)
    t0 = time.perf_counter()
    trainer.train_one()  # code generation / compilation, first presentation
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = [trainer.train_one() for _ in range(n)]
    seconds = time.perf_counter() - t0
    return {"samples": n, "seconds": seconds, "ms_per_sample": 1e3 * seconds / n,
            "first_sample_seconds": warmup,
            "presentations": int(sum(r["presentations"] for r in rows)),
            "rows": [(r["total_spikes"], r["presentations"], r["theta_mean_mV"], r["w_std"])
                     for r in trainer._rows]}


def _time_eval(cfg: Config, arrays, images, ids, chunk: int) -> dict:
    sim = backends.make_frozen_simulator(cfg, arrays, chunk)
    # Warm-up: code generation / compilation and one pass of one chunk.
    t0 = time.perf_counter()
    if hasattr(sim, "prepare"):
        sim.prepare()
    evaluation.simulate_samples(sim, cfg, images[:1], ids[:1], seed=0, stream=3, n_slots=chunk)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluation.simulate_samples(sim, cfg, images, ids, seed=0, stream=3, n_slots=chunk)
    seconds = time.perf_counter() - t0
    return {"samples": len(ids), "seconds": seconds, "ms_per_sample": 1e3 * seconds / len(ids),
            "first_pass_seconds": warmup, "presentations": int(res.presentations.sum()),
            "mean_spikes": float(res.counts.sum(axis=1).mean()), "responses": res}


def run_benchmark(*, neurons: int = 400, data_dir=None, network_dir=None, seed: int = 42,
                  ref_train: int = 10, fast_train: int = 50, ref_eval: int = 20,
                  fast_eval: int = 200, chunk: int = 50, out_dir="results",
                  train: bool = True, reference: bool = True) -> dict:
    """Run both paths on the same real samples; write and return the figures."""
    train_x, train_y = data.load_mnist(data_dir or data.default_data_dir(), "train")
    test_x, test_y = data.load_mnist(data_dir or data.default_data_dir(), "test")
    assignments = None
    if network_dir:
        net = load_network(network_dir)
        cfg, arrays, net_label = net.config, net.arrays, str(network_dir)
        assignments = net.assignments
    else:
        cfg = Config(n_neurons=neurons)
        start = initial_network(cfg, seed)
        arrays = backends.FrozenNetwork(model.normalize_weights(start.weights, cfg.weight_sum),
                                        start.theta_mV, start.delays_ms)
        net_label = f"untrained (seed {seed}, weights normalised)"
    report = {"neurons": cfg.n_neurons, "network": net_label, "commit": git_commit(),
              "machine": machine_info(), "provenance": provenance(),
              "procedure": __doc__.strip().splitlines()[0]}
    if train:
        report["training"] = _compare_training(cfg, seed, train_x, train_y, ref_train,
                                               fast_train)
    ids = np.arange(max(ref_eval, fast_eval))
    if not reference:
        logger.info("evaluation: fast (standalone) only, %d samples", fast_eval)
        fast_e = _time_eval(cfg.replace(backend="standalone"), arrays, test_x[:fast_eval],
                            ids[:fast_eval], chunk)
        report["evaluation"] = {"fast": {k: v for k, v in fast_e.items() if k != "responses"},
                                "chunk_size": chunk,
                                "test_set_minutes_fast_one_worker":
                                    10000 * fast_e["ms_per_sample"] / 6e4}
        return _finish(report, out_dir, cfg)
    logger.info("evaluation: reference (runtime) %d samples", ref_eval)
    # The seed's procedure: 350 ms + the full 150 ms rest per sample (the fast path
    # stops each slot once every input spike is delivered: the same responses, tested).
    ref_e = _time_eval(cfg.replace(backend="runtime", frozen_rest_ms=cfg.rest_ms), arrays,
                       test_x[:ref_eval], ids[:ref_eval], ref_eval)
    logger.info("evaluation: fast (standalone) %d samples", fast_eval)
    fast_e = _time_eval(cfg.replace(backend="standalone"), arrays, test_x[:fast_eval],
                        ids[:fast_eval], chunk)
    common = ref_e["responses"].counts
    fast_common = fast_e["responses"].counts[:ref_eval]
    report["evaluation"] = {
        "reference": {k: v for k, v in ref_e.items() if k != "responses"},
        "fast": {k: v for k, v in fast_e.items() if k != "responses"},
        "speedup_per_core": ref_e["ms_per_sample"] / fast_e["ms_per_sample"],
        "identical_responses_on_common_samples": bool(np.array_equal(common, fast_common)),
        "mean_spikes_reference": float(common.sum(axis=1).mean()),
        "mean_spikes_fast_common": float(fast_common.sum(axis=1).mean()),
        "test_set_minutes_reference": 10000 * ref_e["ms_per_sample"] / 6e4,
        "test_set_minutes_fast_one_worker": 10000 * fast_e["ms_per_sample"] / 6e4,
        "chunk_size": chunk,
    }
    if assignments is not None:
        y = test_y[:ref_eval]
        for name, counts in (("reference", common), ("fast", fast_common)):
            pred = scoring.predict(scoring.class_scores(counts, assignments))
            report["evaluation"][f"accuracy_{name}_common"] = scoring.accuracy(y, pred)
    return _finish(report, out_dir, cfg)


def _finish(report: dict, out_dir, cfg: Config) -> dict:
    report["peak_memory"] = _peak_mib()
    path = Path(out_dir) / f"bench-n{cfg.n_neurons}.json"
    atomic_write_json(path, report)
    report["written_to"] = str(path)
    return report


def _compare_training(cfg: Config, seed: int, train_x, train_y, ref_train: int,
                      fast_train: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        logger.info("training: reference (runtime) %d samples", ref_train)
        ref_t = _time_training(cfg.replace(backend="runtime"), seed, train_x, train_y, ref_train,
                               Path(tmp) / "ref")
        logger.info("training: fast (standalone) %d samples", fast_train)
        fast_t = _time_training(cfg.replace(backend="standalone"), seed, train_x, train_y,
                                fast_train, Path(tmp) / "fast")
    common = min(len(ref_t["rows"]), len(fast_t["rows"]))
    return {
        "reference": {k: v for k, v in ref_t.items() if k != "rows"},
        "fast": {k: v for k, v in fast_t.items() if k != "rows"},
        "identical_on_common_samples": ref_t["rows"][:common] == fast_t["rows"][:common],
        "speedup": ref_t["ms_per_sample"] / fast_t["ms_per_sample"],
        "epoch_hours_reference": 60000 * ref_t["ms_per_sample"] / 3.6e6,
        "epoch_hours_fast": 60000 * fast_t["ms_per_sample"] / 3.6e6,
    }


def format_report(r: dict) -> str:
    """Human-readable summary of :func:`run_benchmark` output."""
    lines = [f"stdp-ray benchmark: {r['neurons']} neurons, {r['network']}",
             f"machine: {r['machine']['cpu']}, {r['machine']['cores']} cores; "
             f"commit {r['commit']}", "",
             f"{'':22}{'reference':>14}{'fast':>14}{'ratio':>9}"]
    t, e = r.get("training"), r["evaluation"]
    if t:
        lines.append(f"{'train ms/sample':22}{t['reference']['ms_per_sample']:14.1f}"
                     f"{t['fast']['ms_per_sample']:14.1f}{t['speedup']:9.1f}x")
    if "reference" in e:
        lines.append(f"{'eval ms/sample':22}{e['reference']['ms_per_sample']:14.1f}"
                     f"{e['fast']['ms_per_sample']:14.1f}{e['speedup_per_core']:9.1f}x")
    else:
        lines.append(f"{'eval ms/sample':22}{'-':>14}{e['fast']['ms_per_sample']:14.1f}")
    lines.append("")
    if t:
        lines.append(f"one epoch (60,000): reference {t['epoch_hours_reference']:.1f} h, "
                     f"fast {t['epoch_hours_fast']:.2f} h")
        lines.append(f"training identical on common samples: {t['identical_on_common_samples']}")
    if "reference" in e:
        lines.append(f"test set (10,000), one worker: reference "
                     f"{e['test_set_minutes_reference']:.1f} min, fast "
                     f"{e['test_set_minutes_fast_one_worker']:.1f} min")
        lines.append(f"evaluation identical on {e['reference']['samples']} common samples: "
                     f"{e['identical_responses_on_common_samples']}; mean spikes "
                     f"{e['mean_spikes_reference']:.2f} vs {e['mean_spikes_fast_common']:.2f}")
        if "accuracy_reference_common" in e:
            lines.append(f"accuracy on them: reference {e['accuracy_reference_common']:.4f}, "
                         f"fast {e['accuracy_fast_common']:.4f}")
    else:
        lines.append(f"test set (10,000), one worker: fast "
                     f"{e['test_set_minutes_fast_one_worker']:.1f} min")
    lines.append(f"peak memory: python {r['peak_memory']['python_process_mib']} MiB, "
                 f"largest simulator child {r['peak_memory']['largest_child_mib']} MiB")
    return "\n".join(lines)
