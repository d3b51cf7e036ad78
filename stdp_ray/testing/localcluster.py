"""A real two-node Ray cluster on this machine, for proving multi-node runs.

``ray start --head`` and ``ray start --address`` each run with ``--block`` in a
process group of their own, given 127.0.0.1 as their address, with a private temporary
directory and free ports; stopping the cluster ends exactly those process
groups (never ``ray stop``, which would end every Ray on the machine), then
checks that no process mentioning the private directory survived.

Its ports are not loopback-only: Ray in cluster mode replaces 127.0.0.1 by
the machine's routable address and its servers bind the wildcard address (a
worker node cannot join a head in Ray's single-machine mode, which
:mod:`stdp_ray.connect` uses for a local Ray). It is started with a token of
its own (``RAY_AUTH_MODE=token``) and lives only as long as a test or demo.

With ``private_dirs`` each node gets a directory of its own as its working
directory and node-local cache (``STDP_RAY_CACHE``, where run directories on
object storage are mirrored), as separate machines would: nothing written
there by one node is seen by another. :meth:`LocalCluster.kill_node` ends one
node's processes outright, as a lost machine.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .env import environment

logger = logging.getLogger(__name__)

__all__ = ["LocalCluster", "free_port"]

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    """Per-node ports that default to fixed numbers (two nodes on one host would clash)."""
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
            "--min-worker-port", "0", "--max-worker-port", "0"]


@dataclass
class LocalCluster:
    """A head node and ``workers`` worker nodes, each with ``cpus`` CPUs, on 127.0.0.1.

    Use as a context manager. ``env`` holds the variables a client needs
    (``RAY_ADDRESS`` for drivers, the authentication token).
    """

    workers: int = 1
    cpus: int = 1
    start_timeout: float = 120.0
    private_dirs: bool = False
    extra_env: dict = field(default_factory=dict)
    procs: list = field(default_factory=list)
    names: list = field(default_factory=list)
    temp_dir: Path | None = None
    env: dict = field(default_factory=dict)

    def __enter__(self) -> "LocalCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def gcs_address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{HOST}:{self.dashboard_port}"

    def start(self) -> None:
        # Short path: Ray's unix sockets live under it (about 100 characters at most).
        self.temp_dir = Path(tempfile.mkdtemp(prefix="src-", dir="/tmp"))
        self.port, self.dashboard_port = free_port(), free_port()
        bindir = str(Path(sys.executable).parent)
        self.env = dict(os.environ)
        self.env.update({
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            # Token authentication on, with a token of this cluster only.
            "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
            # A node stops at once on SIGTERM: the head's drain would wait 30 s for its
            # GCS, which the same signal to its process group has already ended.
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
        })
        self.env.pop("RAY_ADDRESS", None)
        self.env.update(self.extra_env)
        ray = shutil.which("ray", path=self.env["PATH"])
        if ray is None:
            raise FileNotFoundError("the `ray` command is not on PATH")
        head = [ray, "start", "--head", "--block", f"--node-ip-address={HOST}",
                f"--port={self.port}", f"--num-cpus={self.cpus}", "--num-gpus=0",
                f"--temp-dir={self.temp_dir}", "--include-dashboard=true",
                f"--dashboard-host={HOST}", f"--dashboard-port={self.dashboard_port}",
                f"--ray-client-server-port={free_port()}", "--disable-usage-stats",
                *_node_ports()]
        self._spawn(head, "head")
        self._wait_for_gcs()
        for _ in range(self.workers):
            self._spawn_worker()
        self._wait_for_nodes(1 + self.workers)
        self.env["RAY_ADDRESS"] = self.gcs_address
        logger.info("two-node cluster up: GCS %s, dashboard %s", self.gcs_address,
                    self.dashboard_url)

    def add_worker(self) -> str:
        """Start one more worker node and wait until it has joined; returns its name."""
        name = self._spawn_worker()
        self._wait_for_nodes(len(self.procs))
        self.workers = len(self.procs) - 1
        return name

    def _spawn_worker(self) -> str:
        ray = shutil.which("ray", path=self.env["PATH"])
        name = f"worker{sum(1 for n in self.names if n.startswith('worker'))}"
        worker = [ray, "start", "--block", f"--address={self.gcs_address}",
                  f"--node-ip-address={HOST}", f"--num-cpus={self.cpus}", "--num-gpus=0",
                  "--disable-usage-stats", *_node_ports()]
        self._spawn(worker, name)
        return name

    def node_dir(self, name: str) -> Path:
        """The private directory of node ``name`` ("head", "worker0", ...) with ``private_dirs``:
        its working directory, and its node-local cache in ``cache/``."""
        return self.temp_dir / "nodes" / name

    def _spawn(self, cmd: list[str], name: str) -> None:
        log = open(self.temp_dir / f"{name}.log", "wb")
        env, cwd = self.env, None
        if self.private_dirs:
            cwd = self.node_dir(name)
            (cwd / "cache").mkdir(parents=True)
            env = dict(self.env, STDP_RAY_CACHE=str(cwd / "cache"))
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        self.names.append(name)

    def node_ids(self) -> dict[str, str]:
        """Ray's node id of each node started here, by name ("head", "worker0", ...)."""
        code = ("import json,ray,sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                "print(json.dumps({n['NodeManagerPort']: n['NodeID'] for n in ray.nodes()}))")
        out = subprocess.run([sys.executable, "-c", code, self.gcs_address], env=self.env,
                             capture_output=True, text=True, timeout=120, check=True)
        by_port = {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
        ids = {}
        for name, proc in zip(self.names, self.procs):
            port = int(proc.args[proc.args.index("--node-manager-port") + 1])
            ids[name] = by_port[port]
        return ids

    def kill_node(self, name: str) -> list[int]:
        """SIGKILL every process of node ``name`` (its process group and their children),
        as a machine that is lost; returns their PIDs."""
        proc = self.procs[self.names.index(name)]
        pids = _descendants(proc.pid) | _group(proc.pid)
        for pid in sorted(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)
        logger.info("killed node %s: %d processes", name, len(pids))
        return sorted(pids)

    def _check_running(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"`{' '.join(p.args[:3])}` exited with {p.returncode}; "
                                   f"see {self.temp_dir}")

    def _wait_for_gcs(self) -> None:
        """Wait until the head's GCS port accepts connections (worker nodes can join then)."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the head's GCS not up after {self.start_timeout} s "
                           f"(logs in {self.temp_dir})")

    def _wait_for_nodes(self, n: int) -> None:
        """Wait until ``n`` nodes are alive, asking the GCS from one client process."""
        deadline = time.monotonic() + self.start_timeout
        code = ("import ray,sys,time; ray.init(address=sys.argv[1], log_to_driver=False)\n"
                "while sum(1 for x in ray.nodes() if x['Alive']) < int(sys.argv[2]):\n"
                "    time.sleep(0.5)\n")
        while time.monotonic() < deadline:
            # A loaded machine can take over a minute to join: ask again until the deadline.
            client = subprocess.Popen([sys.executable, "-c", code, self.gcs_address, str(n)],
                                      env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                while client.poll() is None and time.monotonic() < deadline:
                    self._check_running()
                    time.sleep(0.2)
            finally:
                if client.poll() is None:
                    client.kill()
                client.wait()
            if client.returncode == 0:
                return
            time.sleep(1.0)
        raise TimeoutError(f"{n} Ray nodes not alive after {self.start_timeout} s "
                           f"(logs in {self.temp_dir})")

    def submit(self, entrypoint: str, timeout: float = 600.0) -> tuple[str, str]:
        """Submit ``entrypoint`` with the Job API and wait; returns (status, logs)."""
        from ray.job_submission import JobStatus, JobSubmissionClient

        # The token goes in the header: Ray caches the token it first loaded in a process.
        headers = {"Authorization": f"Bearer {self.env['RAY_AUTH_TOKEN']}"}
        with environment({k: self.env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}):
            client = JobSubmissionClient(self.dashboard_url, headers=headers)
            job = client.submit_job(entrypoint=entrypoint)
            deadline = time.monotonic() + timeout
            status = client.get_job_status(job)
            while status not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
                if time.monotonic() > deadline:
                    client.stop_job(job)
                    raise TimeoutError(f"job {job} still {status} after {timeout} s")
                time.sleep(1.0)
                status = client.get_job_status(job)
            return str(status.value), client.get_job_logs(job)

    def stop(self, timeout: float = 30.0) -> None:
        """End the process groups this object started, then anything left in its temp dir."""
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        leftovers = self.leftover_pids()
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if leftovers:
            logger.warning("killed %d leftover Ray processes of %s", len(leftovers),
                           self.temp_dir)
        self.procs = []
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def leftover_pids(self) -> list[int]:
        """PIDs whose command line names this cluster's temp dir or GCS port (Linux /proc)."""
        if self.temp_dir is None or not Path("/proc").is_dir():
            return []
        marks = (str(self.temp_dir).encode(), f"{HOST}:{self.port}".encode())
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if any(m in cmdline for m in marks):
                found.append(int(entry.name))
        return found


def _processes() -> dict[int, tuple[int, int]]:
    """Every process (Linux /proc): pid -> (parent pid, process group)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return out


def _descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    table = _processes()
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in table.items():
            if ppid == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _group(pgid: int) -> set[int]:
    """The processes of process group ``pgid``."""
    return {pid for pid, (_, group) in _processes().items() if group == pgid}
