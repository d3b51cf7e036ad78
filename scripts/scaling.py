#!/usr/bin/env python
"""Measure the constants of the scale-out model (issue 26), check the model, project it.

Runs on this machine only, every server on 127.0.0.1: a local multi-node Ray
cluster (stdp_ray.testing.localcluster, 1 CPU per node; more nodes than cores
measures overheads, not speed-up) and moto's S3 server (tests/s3_server.py).
Writes ``<out>/scaling-constants.json`` and ``.md`` with the command and commit.

    PYTHONPATH=. .venv/bin/python scripts/scaling.py [--out results] [--images 400]

1. In this process: seconds per image of the shipped 400-neuron network and a
   random 6,400-neuron one (native, fast), one part written to disk and to a
   bucket by chunk size, one part read back.
2. On a LocalCluster: a node started and joined, the network put and fetched
   on another node by size, a worker's first chunk on a new node (process,
   network, engine build), the round trip of a no-op task and of a real
   one-image chunk, the driver loop's work per no-op chunk.
3. The check: ``run_phase`` on a local Ray of 2 CPUs with 1 and 2 workers, and
   on the cluster with 1 to 4 nodes, measured against stdp_ray.scaling.predict.
4. Projections to 16, 64 and 256 workers, and the default chunk sizes.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # s3_server

from stdp_ray import data, engines, evaluation, model, rundir, scaling  # noqa: E402
from stdp_ray.artifact import load_network  # noqa: E402
from stdp_ray.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402
from stdp_ray.bench import machine_info  # noqa: E402
from stdp_ray.config import Config  # noqa: E402
from stdp_ray.network import FrozenNetwork  # noqa: E402
from stdp_ray.options import RunOptions  # noqa: E402
from stdp_ray.provenance import git_commit  # noqa: E402
from stdp_ray.rundir import PhaseManifest  # noqa: E402
from stdp_ray.testing.env import environment  # noqa: E402

log = logging.getLogger("scaling")
N400 = ROOT / "results" / "networks" / "n400-seed42"
#: The cores of this machine: more workers than that share them (the capped prediction).
CORES = os.cpu_count() or 1


def random_network(cfg: Config, seed: int = 0) -> FrozenNetwork:
    """As tests/conftest.py's: initial weights, normalised, theta 20 mV."""
    rng = np.random.default_rng(seed)
    w = model.normalize_weights(model.initial_weights(cfg, rng), cfg.weight_sum)
    return FrozenNetwork(np.clip(w, 0, cfg.w_max), np.full(cfg.n_neurons, cfg.theta_init_mV),
                         model.initial_delays(cfg, rng))


def nudged(arrays: FrozenNetwork, k: int) -> FrozenNetwork:
    """A copy with another fingerprint (theta + k nV): shipped and built anew, same timing."""
    return FrozenNetwork(arrays.weights, arrays.theta_mV + 1e-6 * k, arrays.delays_ms)


def median(xs) -> float:
    return float(statistics.median(xs))


def fit_line(x, y) -> tuple[float, float]:
    """Least squares ``y = a + b x``; (a, b)."""
    b, a = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(a), float(b)


# --------------------------------------------------------------------------- 1. in process

def image_cost(cfg: Config, arrays: FrozenNetwork, images: np.ndarray, n: int,
               batch: int = 50) -> dict:
    """Build (first pass of one image) and seconds per image over ``n`` test images."""
    t0 = time.perf_counter()
    sim = engines.make_frozen_simulator(cfg, arrays, batch)
    evaluation.simulate_samples(sim, cfg, images[:1], np.arange(1), seed=0,
                                stream=model.STREAMS["test"], n_slots=batch)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluation.simulate_samples(sim, cfg, images[:n], np.arange(n), seed=0,
                                      stream=model.STREAMS["test"], n_slots=batch)
    seconds = time.perf_counter() - t0
    return {"images": n, "image_s": seconds / n, "build_s": build,
            "presentations": float(res.presentations.mean())}


def fake_table(n_rows: int, neurons: int, chunk: int = 0):
    rng = np.random.default_rng(chunk)
    counts = rng.poisson(0.01, size=(n_rows, neurons)).astype(np.int32)
    return rundir.responses_table(np.arange(n_rows), np.zeros(n_rows, np.int64), counts,
                                  np.full(n_rows, 2.0), np.ones(n_rows, np.int64),
                                  np.zeros(n_rows, bool), chunk)


def part_writes(root: Path, sizes, neurons_list, repeats: int) -> list[dict]:
    """One part (write_table with its identity) of C rows, timed; then read back."""
    manifest = PhaseManifest(phase="test", seed=1, chunk_size=1, n_samples=1, first_sample=0,
                             network="x", model="y", data="z")
    rows = []
    for neurons in neurons_list:
        for c in sizes:
            table = fake_table(c, neurons)
            times, reads = [], []
            for r in range(repeats):
                path = root / f"n{neurons}-c{c}" / rundir.part_name(r)
                t0 = time.perf_counter()
                rundir.write_table(path, table, identity=rundir.part_identity(manifest, r))
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                rundir.read_table(path)
                reads.append(time.perf_counter() - t0)
            rows.append({"neurons": neurons, "chunk_size": c, "write_s": median(times),
                         "read_s": median(reads), "bytes": path.stat().st_size})
    return rows


def bucket_writes(sizes, neurons_list, repeats: int) -> list[dict]:
    from s3_server import S3Server

    from stdp_ray.location import open_location

    with S3Server() as server, environment(server.environment()):
        bucket = server.new_bucket()
        with open_location(f"s3://{bucket}/run", write=True) as loc:
            return part_writes(loc / "responses", sizes, neurons_list, repeats)


# --------------------------------------------------------------------------- 2. cluster

def _remotes():
    import ray

    @ray.remote(num_cpus=1)
    def probe(box, cfg, images, labels, ids, entered_after):
        """A first (or later) chunk: times the import, the network's fetch, build + 1 image."""
        t_in = time.time()
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            age = float(fh.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
        t0 = time.perf_counter()
        from stdp_ray import evaluation as ev
        t1 = time.perf_counter()
        arrays = ray.get(box[0])
        t2 = time.perf_counter()
        ev.evaluate_chunk(cfg, arrays, images, labels, ids, seed=1, phase="test", chunk=0)
        t3 = time.perf_counter()
        ev.evaluate_chunk(cfg, arrays, images, labels, ids, seed=1, phase="test", chunk=0)
        t4 = time.perf_counter()
        return {"queue_s": t_in - entered_after, "process_age_s": age, "import_s": t1 - t0,
                "get_s": t2 - t1, "first_chunk_s": t3 - t2, "warm_chunk_s": t4 - t3,
                "node": ray.get_runtime_context().get_node_id()}

    @ray.remote(num_cpus=1)
    def fetch(box):
        t0 = time.perf_counter()
        value = ray.get(box[0])
        return time.perf_counter() - t0, int(value.nbytes)

    @ray.remote(num_cpus=1)
    def noop(k):
        return k

    @ray.remote(num_cpus=1)
    def timed_chunk(cfg, arrays, images, labels, ids, n_slots):
        from stdp_ray import evaluation as ev
        t0 = time.perf_counter()
        table = ev.evaluate_chunk(cfg, arrays, images, labels, ids, seed=1, phase="test",
                                  chunk=0, n_slots=n_slots)
        return table, time.perf_counter() - t0

    return probe, fetch, noop, timed_chunk


def hard(node: str):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node, soft=False)


def node_of(name: str, cluster) -> str:
    import ray

    proc = cluster.procs[cluster.names.index(name)]
    port = int(proc.args[proc.args.index("--node-manager-port") + 1])
    return next(n["NodeID"] for n in ray.nodes() if n["NodeManagerPort"] == port and n["Alive"])


def cluster_constants(cluster, nets: dict, test_x, test_y) -> dict:
    """Node starts, put/fetch by size, first chunks, task round trips, the driver loop."""
    import ray

    probe, fetch, noop, timed_chunk = _remotes()
    out: dict = {"node_start_s": [], "first_chunk": [], "put": {}}
    refs = {}
    for key, (cfg, arrays) in nets.items():
        t0 = time.perf_counter()
        refs[key] = ray.put(arrays)
        out["put"][key] = {"seconds": time.perf_counter() - t0,
                           "mb": sum(a.nbytes for a in dataclasses.astuple(arrays)) / 1e6}
    img, lab, ids = test_x[:1], test_y[:1], np.arange(1)

    def run_probe(key, node, fresh):
        cfg = nets[key][0]
        t0 = time.perf_counter()
        r = ray.get(probe.options(scheduling_strategy=hard(node)).remote(
            [refs[key]], cfg, img, lab, ids, time.time()))
        r.update(round_trip_s=time.perf_counter() - t0, network=key, fresh_node=fresh)
        out["first_chunk"].append(r)
        log.info("probe %s: %s", key, {k: round(v, 3) if isinstance(v, float) else v
                                       for k, v in r.items()})
        return r

    names = []
    for key in ("n400", "n6400", "n400"):
        t0 = time.perf_counter()
        name = cluster.add_worker()
        out["node_start_s"].append(time.perf_counter() - t0)
        names.append(name)
        run_probe(key, node_of(name, cluster), True)
    w0, w1, w2 = (node_of(n, cluster) for n in names)
    run_probe("n400", w0, False)    # warm process, network cached: get + chunk only
    run_probe("n6400", w0, False)   # warm process, new network: fetch + build
    run_probe("n400", w1, False)
    # The object store: put here (the head), first fetch on another node, by size.
    transfers = []
    for mb in (1, 8, 32, 80):
        value = np.ones(int(mb * 1e6 / 8))
        t0 = time.perf_counter()
        ref = ray.put(value)
        put_s = time.perf_counter() - t0
        for node in (w1, w2):
            get_s, nbytes = ray.get(fetch.options(scheduling_strategy=hard(node)).remote([ref]))
            transfers.append({"mb": nbytes / 1e6, "put_s": put_s, "get_s": get_s})
        del ref
    out["transfers"] = transfers
    # A no-op task's round trip, one at a time (a worker slot's gap between chunks).
    nodes = [w0, w1, w2]
    for k in range(10):  # warm every node's worker
        ray.get(noop.options(scheduling_strategy=hard(nodes[k % 3])).remote(k))
    rts = []
    for k in range(60):
        t0 = time.perf_counter()
        ray.get(noop.options(scheduling_strategy=hard(nodes[k % 3])).remote(k))
        rts.append(time.perf_counter() - t0)
    out["noop_round_trip_s"] = median(rts)
    # The driver loop of run_phase with no-op chunks: 3 slots, wait one, submit the next.
    n_tasks, pending, submitted, done = 300, {}, 0, 0
    t0 = time.perf_counter()
    while submitted < 3:
        pending[noop.options(scheduling_strategy=hard(nodes[submitted % 3])).remote(0)] = \
            submitted % 3
        submitted += 1
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            slot = pending.pop(ref)
            ray.get(ref)
            done += 1
            if submitted < n_tasks:
                pending[noop.options(scheduling_strategy=hard(nodes[slot])).remote(0)] = slot
                submitted += 1
    out["noop_loop_s_per_task"] = (time.perf_counter() - t0) / n_tasks
    # A real chunk of one image, one at a time: round trip minus the simulation inside.
    for key in ("n400", "n6400"):
        cfg = nets[key][0]
        arrays_ref = refs[key]
        gaps = []
        for k in range(12 if key == "n400" else 6):
            t0 = time.perf_counter()
            table, inner = ray.get(timed_chunk.options(scheduling_strategy=hard(w0)).remote(
                cfg, arrays_ref, img, lab, ids, 1))
            gaps.append(time.perf_counter() - t0 - inner)
        out[f"real_task_overhead_s_{key}"] = median(gaps[2:])
    return out


# --------------------------------------------------------------------------- 3. the check

def check_run(label: str, phase_root: Path, cfg: Config, arrays, images, labels, *, workers: int,
              chunk: int, nodes: int, constants, t_image: float, fresh: bool,
              store: str = "local") -> dict:
    ids = np.arange(len(images))
    phase_dir = phase_root / label / "responses" / "phase=test"
    t0 = time.perf_counter()
    info = evaluation.run_phase(phase_dir, cfg, arrays, images, labels, ids, seed=1,
                                phase="test", options=RunOptions(chunk_size=chunk,
                                                                 workers=workers,
                                                                 progress=False))
    rundir.read_phase(phase_dir)  # the read back, as test does before scoring
    measured = time.perf_counter() - t0
    pred = scaling.predict(len(images), workers, chunk, neurons=cfg.n_neurons, nodes=nodes,
                           store=store, constants=constants, t_image=t_image,
                           fresh_workers=fresh)
    capped = scaling.predict(len(images), min(workers, CORES), chunk, neurons=cfg.n_neurons,
                             nodes=nodes, store=store, constants=constants, t_image=t_image,
                             fresh_workers=fresh)
    used = sorted({v["node"] for v in info["placement"].values()})
    row = {"run": label, "neurons": cfg.n_neurons, "engine": cfg.backend, "images": len(images),
           "workers": workers, "nodes": nodes, "nodes_used": len(used), "chunk_size": chunk,
           "store": store, "measured_s": measured, "predicted_s": pred.seconds,
           "ratio": measured / pred.seconds, "limit": pred.limit,
           "predicted_capped_s": capped.seconds, "ratio_capped": measured / capped.seconds,
           "t_image_s": t_image, "fresh_workers": fresh,
           "driver_s_per_chunk": info["driver_seconds"] / max(1, info["computed"]),
           "predicted_driver_s_per_chunk": constants.driver_s(chunk, cfg.n_neurons, store),
           "chunks": info["chunks"]}
    log.info("check %s: measured %.2f s, predicted %.2f s (%s)", label, measured, pred.seconds,
             pred.limit)
    return row


# --------------------------------------------------------------------------- 4. projections

def projections(constants) -> list[dict]:
    rows = []
    for phase, n_images in (("test", 10_000), ("observe", 60_000)):
        for engine in ("native", "fast"):
            for neurons in (400, 1600, 6400):
                one = scaling.predict(n_images, 1, scaling.default_chunk_size(
                    neurons, engine, n_images, 1), neurons=neurons, engine=engine,
                    constants=constants).seconds
                for workers in (16, 64, 256):
                    nodes = max(1, workers // 16)
                    row = {"phase": phase, "images": n_images, "engine": engine,
                           "neurons": neurons, "workers": workers, "nodes": nodes,
                           "one_worker_s": one}
                    for store in ("local", "bucket"):
                        c = scaling.default_chunk_size(neurons, engine, n_images, workers,
                                                       store=store, constants=constants)
                        p = scaling.predict(n_images, workers, c, neurons=neurons,
                                            engine=engine, nodes=nodes, store=store,
                                            constants=constants)
                        old = scaling.predict(n_images, workers, 50, neurons=neurons,
                                              engine=engine, nodes=nodes, store=store,
                                              constants=constants)
                        row[store] = {"chunk_size": c, "seconds": p.seconds,
                                      "speedup": one / p.seconds,
                                      "efficiency": one / p.seconds / workers,
                                      "limit": p.limit, "seconds_at_50": old.seconds,
                                      "terms": {"setup": p.setup, "workers": p.workers,
                                                "driver": p.driver, "read": p.read}}
                    rows.append(row)
    return rows


# --------------------------------------------------------------------------- main

def fitted_constants(local: dict, bucket: list[dict], clus: dict, costs: dict) -> tuple:
    """The model's constants from the measurements (and how each was derived)."""
    def fit(rows):
        return fit_line([r["chunk_size"] * r["neurons"] for r in rows],
                        [r["write_s"] for r in rows])

    a_local, b_local = fit(local)
    a_bucket, b_bucket = fit(bucket)
    loop = clus["noop_loop_s_per_task"]
    fresh = [r for r in clus["first_chunk"] if r["fresh_node"]]
    # A new worker's first chunk, less the network's fetch and the engine's build + image.
    first_s = median([r["round_trip_s"] - r["get_s"] - (r["first_chunk_s"])
                      for r in fresh])
    builds = {r["network"]: r["first_chunk_s"] - r["warm_chunk_s"] for r in fresh}
    per_neuron = (builds["n6400"] - builds["n400"]) / 6000
    tr = clus["transfers"]
    _, ship = fit_line([t["mb"] for t in tr], [t["get_s"] for t in tr])
    _, put = fit_line([t["mb"] for t in tr], [t["put_s"] for t in tr])
    c = scaling.Constants(
        task_s=clus["real_task_overhead_s_n400"],
        driver_chunk_s={"local": max(0.0, a_local) + loop, "bucket": max(0.0, a_bucket) + loop},
        driver_value_s={"local": max(0.0, b_local), "bucket": max(0.0, b_bucket)},
        read_part_s=median([r["read_s"] for r in local]),
        put_s_per_mb=max(put, 0.0), ship_s_per_mb=max(ship, 0.0),
        first_s=max(first_s, 0.0), first_s_per_neuron=max(per_neuron, 0.0),
        node_start_s=median(clus["node_start_s"]))
    how = {
        "task_s": "real one-image chunk: round trip minus the simulation inside (n400, warm)",
        "driver_chunk_s": "part write's intercept (fit over C x neurons) + the driver loop's "
                          "time per no-op chunk (wait, get, submit)",
        "driver_value_s": "part write's slope per spike count (C x neurons)",
        "read_part_s": "one part read back (median over sizes)",
        "put_s_per_mb": "ray.put by size, slope", "ship_s_per_mb": "first get on another "
                                                                   "node by size, slope",
        "first_s": "first chunk on a new node: round trip less fetch and build + image",
        "first_s_per_neuron": "engine build (first chunk less a warm one), 6400 vs 400",
        "node_start_s": "`ray start` of a worker node until it is listed alive"}
    return c, how


def format_md(r: dict) -> str:
    c = r["constants"]
    lines = [f"# Scale-out constants, check and projections (issue 26; commit {r['commit']})",
             "", f"Command: `{r['command']}`", "",
             f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, "
             f"{r['machine']['memory_gib']} GiB. **Load:** {r['load']}", "",
             "## Constants", "", "| constant | value | how |", "|---|---:|---|"]
    for k, v in c.items():
        if isinstance(v, dict):
            v = ", ".join(f"{s}: {1e3 * x:.3g} ms" if k != "driver_value_s"
                          else f"{s}: {1e9 * x:.3g} ns" for s, x in v.items())
        elif k.endswith("per_neuron"):
            v = f"{1e6 * v:.3g} us"
        elif k.endswith("per_mb"):
            v = f"{1e3 * v:.3g} ms/MB"
        else:
            v = f"{v:.3g} s"
        lines.append(f"| {k} | {v} | {r['derivation'].get(k, '')} |")
    lines += ["", "Seconds per image (this process, under the same load; batch 50):", "",
              "| network | engine | ms/image | presentations/image | first pass (build) s | "
              "bench (unloaded) ms |", "|---|---|---:|---:|---:|---:|"]
    for key, row in r["image_costs"].items():
        if "build_s" not in row:
            lines.append(f"| {key} (again, before the check runs) | | "
                         f"{1e3 * row['image_s']:.2f} | | | |")
            continue
        net, eng = key.split("/")
        n = 400 if net == "n400" else 6400
        lines.append(f"| {net} | {eng} | {1e3 * row['image_s']:.2f} | "
                     f"{row['presentations']:.3f} | {row['build_s']:.2f} | "
                     f"{scaling.IMAGE_MS[eng][n]:.2f} |")
    lines += ["", "## The model's check (measured vs predicted, same load)", "",
              "| run | neurons | engine | images | workers | nodes (used) | chunk | store | "
              "measured s | predicted s | measured / predicted | predicted, workers <= "
              f"{r['machine']['cores']} cores | measured / that | driver ms/chunk "
              "(pred.) | limit |", "|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|"
              "---:|---:|---:|---|"]
    for x in r["check"]:
        lines.append(f"| {x['run']} | {x['neurons']} | {x['engine']} | {x['images']} | "
                     f"{x['workers']} | {x['nodes']} ({x['nodes_used']}) | {x['chunk_size']} | "
                     f"{x['store']} | {x['measured_s']:.2f} | {x['predicted_s']:.2f} | "
                     f"{x['ratio']:.2f} | {x['predicted_capped_s']:.2f} | "
                     f"{x['ratio_capped']:.2f} | {1e3 * x['driver_s_per_chunk']:.1f} "
                     f"({1e3 * x['predicted_driver_s_per_chunk']:.1f}) | {x['limit']} |")
    lines += ["", "## Projections (t_image from results/bench-fast.json; 16 workers per node; "
              "constants above)", "",
              "| phase | images | engine | neurons | workers | store | chunk (default) | "
              "predicted | speed-up | efficiency | limit | at chunk 50 |",
              "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---|---:|"]
    for x in r["projections"]:
        for store in ("local", "bucket"):
            p = x[store]
            lines.append(f"| {x['phase']} | {x['images']} | {x['engine']} | {x['neurons']} | "
                         f"{x['workers']} | {store} | {p['chunk_size']} | "
                         f"{_dur(p['seconds'])} | {p['speedup']:.0f}x | "
                         f"{100 * p['efficiency']:.0f} % | {p['limit']} | "
                         f"{_dur(p['seconds_at_50'])} |")
    return "\n".join(lines) + "\n"


def _dur(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "results"))
    p.add_argument("--images", type=int, default=400, help="test images of each check run")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--name", default="scaling-constants")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("stdp_ray").setLevel(logging.WARNING)
    test_x, test_y = data.load_mnist(args.data_dir or data.default_data_dir(), "test")
    net400 = load_network(N400)
    cfg400 = net400.config.replace(backend="native")
    cfg6400 = Config(n_neurons=6400)
    a400, a6400 = net400.arrays, random_network(cfg6400)
    t_start = time.perf_counter()
    report = {"command": "PYTHONPATH=. .venv/bin/python scripts/scaling.py "
                         + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
              "commit": git_commit(), "machine": machine_info(),
              "load": f"load average {os.getloadavg()[0]:.1f} at the start: a training ran "
                      "beside it on both cores all along, so every time here is an overhead "
                      "measured under load, not a speed-up"}
    # 1. in process
    costs = {}
    for key, cfg, arrays, n in (("n400/native", cfg400, a400, 200),
                                ("n400/fast", cfg400.replace(backend="fast"), a400, 400),
                                ("n6400/native", cfg6400, a6400, 20),
                                ("n6400/fast", cfg6400.replace(backend="fast"), a6400, 50)):
        costs[key] = image_cost(cfg, arrays, test_x, n)
        log.info("%s: %.2f ms/image, build %.2f s", key, 1e3 * costs[key]["image_s"],
                 costs[key]["build_s"])
    report["image_costs"] = costs
    sizes, neurons_list = (1, 10, 50, 200, 1000), (400, 6400)
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        local = part_writes(Path(tmp) / "local", sizes, neurons_list, repeats=5)
    bucket = bucket_writes(sizes, neurons_list, repeats=3)
    report["part_writes"] = {"local": local, "bucket": bucket}
    log.info("parts: local %s", [(r["neurons"], r["chunk_size"], round(1e3 * r["write_s"], 1))
                                 for r in local])
    log.info("parts: bucket %s", [(r["neurons"], r["chunk_size"], round(1e3 * r["write_s"], 1))
                                  for r in bucket])
    # 2 and 3. the cluster, then a local Ray of 2 CPUs. Ray reads its authentication mode
    # once per process, when imported: the cluster's token is set before that.
    import secrets
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    extra = {"PYTHONPATH": str(ROOT), "RAY_DEDUP_LOGS": "0", **auth}
    with environment(extra):
        check, clus, constants, how = cluster_and_checks(args, nets_of(cfg400, a400, cfg6400,
                                                                      a6400),
                                                         test_x, test_y, local, bucket, costs,
                                                         extra)
    report["cluster"] = clus
    report["check"] = check
    report["constants"] = dataclasses.asdict(constants)
    report["derivation"] = how
    report["projections"] = projections(constants)
    report["seconds"] = time.perf_counter() - t_start
    out = Path(args.out)
    atomic_write_json(out / f"{args.name}.json", report)
    atomic_write_bytes(out / f"{args.name}.md", format_md(report).encode())
    print(format_md(report))
    return 0


def nets_of(cfg400, a400, cfg6400, a6400) -> dict:
    return {"n400": (cfg400, a400), "n6400": (cfg6400, a6400)}


def cluster_and_checks(args, nets, test_x, test_y, local, bucket, costs, extra):
    """Steps 2 and 3: the cluster's constants, then the check runs."""
    import ray

    from stdp_ray.testing.localcluster import LocalCluster

    cfg400, a400 = nets["n400"]
    cfg6400, a6400 = nets["n6400"]
    check = []
    with tempfile.TemporaryDirectory(prefix="scaling-runs-") as tmp:
        runs = Path(tmp)
        t0 = time.perf_counter()
        with LocalCluster(workers=0, cpus=1, extra_env=extra) as cluster:
            head_s = time.perf_counter() - t0
            ray.init(address=cluster.gcs_address, log_to_driver=False)
            try:
                clus = cluster_constants(cluster, nets, test_x, test_y)
                clus["head_start_s"] = head_s
                constants, how = fitted_constants(local, bucket, clus, costs)
                # Seconds per image again just before the runs: the load moves.
                t_img = image_cost(cfg400, a400, test_x, 200)["image_s"]
                costs["n400/native-before-cluster-check"] = {"image_s": t_img}
                imgs, labs = test_x[:args.images], test_y[:args.images]
                k = 0
                for nodes, chunk in ((1, 25), (2, 25), (3, 25), (4, 25), (4, 5), (4, 100)):
                    k += 1
                    check.append(check_run(f"cluster-{nodes}n-c{chunk}", runs, cfg400,
                                           nudged(a400, k), imgs, labs, workers=nodes,
                                           chunk=chunk, nodes=nodes, constants=constants,
                                           t_image=t_img, fresh=False))
                k += 1
                n64 = max(20, args.images // 10)
                check.append(check_run(
                    "cluster-4n-n6400-fast", runs, cfg6400.replace(backend="fast"),
                    nudged(a6400, k), test_x[:n64], test_y[:n64], workers=4, chunk=5,
                    nodes=4, constants=constants, t_image=costs["n6400/fast"]["image_s"],
                    fresh=False))
            finally:
                ray.shutdown()
        # A bucket run and 1-2 workers on one node: a local Ray of 2 CPUs.
        from s3_server import S3Server

        from stdp_ray.connect import start_local_ray
        from stdp_ray.location import open_location

        with S3Server() as server, environment(server.environment()):
            start_local_ray(2, log_to_driver=False)
            try:
                t_img = image_cost(cfg400, a400, test_x, 200)["image_s"]
                costs["n400/native-before-local-check"] = {"image_s": t_img}
                for k, (w, chunk, fresh) in enumerate(((1, 25, True), (2, 25, True),
                                                       (2, 5, False)), start=20):
                    check.append(check_run(f"local-{w}w-c{chunk}", runs, cfg400,
                                           nudged(a400, k), imgs, labs, workers=w, chunk=chunk,
                                           nodes=1, constants=constants, t_image=t_img,
                                           fresh=fresh))
                bucket_name = server.new_bucket()
                with open_location(f"s3://{bucket_name}/run", write=True) as loc:
                    check.append(check_run("local-2w-c10-bucket", loc, cfg400,
                                           nudged(a400, 30), imgs, labs, workers=2, chunk=10,
                                           nodes=1, constants=constants, t_image=t_img,
                                           fresh=False, store="bucket"))
            finally:
                ray.shutdown()
    return check, clus, constants, how


if __name__ == "__main__":
    raise SystemExit(main())
