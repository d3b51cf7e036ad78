"""How long observe and test take on W workers in chunks of C, and the chunk size to use.

The model of issue 26, from constants measured by ``scripts/scaling.py``
(``results/scaling-constants.json``). A phase presents ``N`` images to a
network of ``n`` neurons, in ``M = ceil(N / C)`` chunks, each one Ray task and
one Parquet part, on ``W`` workers (CPU slots) spread over ``K`` nodes::

    T(N, W, C) = t_put + K * t_ship + t_first
                 + max(ceil(M / W) * (C * t_image + t_task),  M * t_driver(C))
                 + t_driver(C) + M * t_read

- ``t_put``: the network put into the object store once (per MB).
- ``t_ship``: the network's first fetch on a node (per MB): one per node,
  served by the driver's node one after another (the upper bound; Ray may
  also serve it from nodes that already hold it).
- ``t_first``: a worker's first chunk: its process started and the engine
  built for this network (per neuron); every worker pays it at once, in
  parallel, so the phase pays it once.
- ``C * t_image + t_task``: one chunk on a worker: the images (from
  ``stdp-ray bench``, repeats of quiet images included) and the task's own
  cost (scheduling, arguments, result) as a worker slot sees it. The workers
  run ``ceil(M / W)`` waves (the last may be partly empty).
- ``t_driver(C) = a + b * C * n``: the driver's work per finished chunk, one
  after another in one process: taking the result (``ray.get``), writing its
  part (to disk or, through the node's mirror, to a bucket), the bookkeeping
  and submitting the next chunk. The driver overlaps it with the workers'
  simulation, so the phase takes the longer of the two streams, plus the last
  chunk's write.
- ``M * t_read``: reading the phase's parts back (scoring, and the check of
  every part before a resumed phase skips it).

Assumptions: images cost the same on average in every chunk (the repeats of
quiet images average out over a chunk); the workers are equally fast and
alone on their cores (``W`` no larger than the cores); the driver is one
process with its own core; node start (``ray start``, the autoscaler) is
not part of a phase; stragglers beyond the last wave are not modelled.

:func:`default_chunk_size` picks, from a few round sizes, the smallest whose
predicted time is within :data:`TOLERANCE` of the best: small chunks keep
progress, resumption and the balance of the last wave fine-grained, and the
model says where their overheads start to cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["IMAGE_MS", "STORES", "Constants", "CONSTANTS", "Prediction", "CANDIDATES",
           "TOLERANCE", "image_seconds", "predict", "default_chunk_size", "network_mb"]

#: Milliseconds per test image of each engine by network size, batch 50, one core:
#: results/bench-fast.json (native, fast) and results/bench-engines.json (standalone,
#: runtime). Between sizes, interpolated in log-log; beyond, extrapolated likewise.
IMAGE_MS: dict[str, dict[int, float]] = {
    "native": {100: 4.55, 400: 8.06, 1600: 21.08, 6400: 75.33},
    "fast": {100: 1.09, 400: 2.22, 1600: 7.57, 6400: 31.49},
    "standalone": {100: 27.2, 400: 47.1, 1600: 148.4, 6400: 820.0},
    "runtime": {100: 579.7, 400: 680.4, 1600: 682.4, 6400: 1242.9},
}

#: Where the parts go: a local (or shared) disk, or a bucket through the node's mirror.
STORES = ("local", "bucket")


@dataclass(frozen=True)
class Constants:
    """The overheads of the model, in seconds (``scripts/scaling.py`` measures them).

    Attributes
    ----------
    task_s : float
        A task's own cost on a worker slot (scheduling, arguments, result).
    driver_chunk_s : dict
        Store -> the fixed part of the driver's work per finished chunk.
    driver_value_s : dict
        Store -> the driver's work per spike count of a chunk's result (one
        value per image and neuron: the result taken, encoded and written).
    read_part_s : float
        One part read back and checked.
    put_s_per_mb, ship_s_per_mb : float
        The network put into the object store, and its first fetch on a node.
    first_s, first_s_per_neuron : float
        A worker's first chunk: a new worker process, and the engine built
        (per neuron of the network).
    node_start_s : float
        A node started and joined (reported; not part of a phase).
    """

    task_s: float = 0.0074
    driver_chunk_s: dict = field(default_factory=lambda: {"local": 0.0109, "bucket": 0.0287})
    driver_value_s: dict = field(default_factory=lambda: {"local": 3.7e-8, "bucket": 3.7e-8})
    read_part_s: float = 0.0043
    put_s_per_mb: float = 0.0012
    ship_s_per_mb: float = 0.0026
    first_s: float = 2.44
    first_s_per_neuron: float = 0.00096
    node_start_s: float = 13.3

    def driver_s(self, chunk_size: int, neurons: int, store: str = "local") -> float:
        """The driver's work per finished chunk of ``chunk_size`` images."""
        if store not in STORES:
            raise ValueError(f"store == {store!r}, must be one of {STORES}")
        return self.driver_chunk_s[store] + self.driver_value_s[store] * chunk_size * neurons


#: The constants the package uses: results/scaling-constants.json (commit d51c245, rounded),
#: measured on 2 cores beside a training on both, so overheads are on the high side.
CONSTANTS = Constants()

#: Chunk sizes :func:`default_chunk_size` chooses from.
CANDIDATES = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
#: How far above the best predicted time the chosen (smallest) chunk size may be.
TOLERANCE = 0.05


@dataclass(frozen=True)
class Prediction:
    """The model's time of one phase, and its terms (seconds)."""

    seconds: float
    setup: float        # t_put + K * t_ship + t_first
    workers: float      # ceil(M / W) * (C * t_image + t_task)
    driver: float       # M * t_driver(C)
    read: float         # M * t_read
    chunks: int
    limit: str          # "workers", "driver", "setup" or "read": the largest term


def _positive(name: str, value, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} == {value!r}, must be an integer")
    if value < (0 if allow_zero else 1):
        raise ValueError(f"{name} == {value}, must be >= {0 if allow_zero else 1}")
    return value


def image_seconds(neurons: int, engine: str) -> float:
    """Seconds per image of ``engine`` for ``neurons`` neurons (:data:`IMAGE_MS`, log-log)."""
    _positive("neurons", neurons)
    if engine not in IMAGE_MS:
        raise ValueError(f"engine == {engine!r}, must be one of {tuple(IMAGE_MS)}")
    table = sorted(IMAGE_MS[engine].items())
    sizes = [s for s, _ in table]
    k = min(max(1, sum(1 for s in sizes if s <= neurons)), len(table) - 1)
    (n0, m0), (n1, m1) = table[k - 1], table[k]
    slope = math.log(m1 / m0) / math.log(n1 / n0)
    return 1e-3 * m0 * math.exp(slope * math.log(neurons / n0))


def network_mb(neurons: int, n_input: int = 784) -> float:
    """The network's size in the object store: weights and delays (float64), theta."""
    return (2 * n_input + 1) * neurons * 8 / 1e6


def predict(n_images: int, workers: int, chunk_size: int, *, neurons: int,
            engine: str = "native", nodes: int = 1, store: str = "local",
            constants: Constants = CONSTANTS, t_image: float | None = None,
            fresh_workers: bool = True) -> Prediction:
    """The model's time of a phase of ``n_images`` on ``workers`` slots over ``nodes`` nodes.

    Parameters
    ----------
    t_image : float, optional
        Seconds per image (default :func:`image_seconds`).
    fresh_workers : bool
        The workers start with this phase (False: processes already running,
        as on a cluster that ran a phase before; the engine is still built).
    """
    _positive("n_images", n_images, allow_zero=True)
    _positive("workers", workers)
    _positive("chunk_size", chunk_size)
    _positive("nodes", nodes)
    if t_image is None:
        t_image = image_seconds(neurons, engine)
    c = constants
    chunks = -(-n_images // chunk_size)
    if chunks == 0:
        return Prediction(0.0, 0.0, 0.0, 0.0, 0.0, 0, "setup")
    mb = network_mb(neurons)
    first = (c.first_s if fresh_workers else 0.0) + c.first_s_per_neuron * neurons
    setup = c.put_s_per_mb * mb + nodes * c.ship_s_per_mb * mb + first
    waves = -(-chunks // workers)
    size = min(chunk_size, n_images)
    work = waves * (size * t_image + c.task_s)
    per_chunk = c.driver_s(size, neurons, store)
    driver = chunks * per_chunk
    read = chunks * c.read_part_s
    seconds = setup + max(work, driver) + per_chunk + read
    terms = {"workers": work, "driver": driver, "setup": setup, "read": read}
    return Prediction(seconds, setup, work, driver, read, chunks, max(terms, key=terms.get))


def default_chunk_size(neurons: int, engine: str, images: int, workers: int, *,
                       store: str = "local", constants: Constants = CONSTANTS) -> int:
    """The chunk size a phase uses when none is given.

    The smallest of :data:`CANDIDATES` (up to ``images``) whose :func:`predict`
    time is within :data:`TOLERANCE` of the best candidate's.

    Parameters
    ----------
    neurons : int
        Excitatory neurons of the network.
    engine : str
        The simulation engine (``native``, ``fast``, ``standalone``, ``runtime``).
    images : int
        Images of the phase.
    workers : int
        Chunks in flight at once (``--workers``, else the cluster's CPUs).
    store : {"local", "bucket"}
        Where the parts are written.

    Raises
    ------
    ValueError
        If a count is below 1, or the engine or store is unknown.
    """
    _positive("images", images)
    _positive("workers", workers)
    sizes = [c for c in CANDIDATES if c <= images] or [CANDIDATES[0]]
    if images not in sizes and images < CANDIDATES[-1]:
        sizes.append(images)  # one chunk of everything
    times = {c: predict(images, workers, c, neurons=neurons, engine=engine, store=store,
                        constants=constants).seconds for c in sizes}
    best = min(times.values())
    return min(c for c, t in times.items() if t <= best * (1 + TOLERANCE))

