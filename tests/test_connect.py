"""Starting a local Ray: every process of it listens on loopback only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from stdp_ray import connect
from stdp_ray.testing.listeners import is_loopback, listeners
from stdp_ray.testing.localcluster import free_port

#: A driver that starts a local Ray the package's way, with one actor, prints the
#: actor's pid and waits for a line on stdin before it shuts Ray down.
DRIVER = """
import os, sys
import ray
from stdp_ray import connect

connect.init_ray(workers=1)

@ray.remote(num_cpus=0)
class Echo:
    def pid(self):
        return os.getpid()

actor = Echo.remote()
print(ray.get(actor.pid.remote()), ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.readline()
ray.shutdown()
"""


@pytest.fixture
def local_ray_driver():
    """A driver process with its own local Ray (own temporary directory, free metric ports)."""
    temp = tempfile.mkdtemp(prefix="lo-", dir="/tmp")  # short: Ray's unix sockets live there
    env = dict(os.environ, RAY_TMPDIR=temp, AUTOSCALER_METRIC_PORT=str(free_port()),
               DASHBOARD_METRIC_PORT=str(free_port()))
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("127.3.2.1", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("::ffff:192.0.2.2", False),
    ("fe80::1", False)])
def test_loopback_addresses_are_told_from_wildcards_and_routable_ones(address, loopback):
    assert is_loopback(address) is loopback


def test_a_local_ray_listens_on_loopback_only(local_ray_driver):
    """GCS server, raylet, agents, driver and workers: no listener on a wildcard or routable
    address, and the cluster's address is 127.0.0.1."""
    line = local_ray_driver.stdout.readline().split()
    assert line, "the driver did not start Ray"
    actor, gcs_address = int(line[0]), line[1]
    found = listeners(local_ray_driver.pid)
    names = {s.name for s in found}
    exposed = [s for s in found if not s.loopback]
    assert exposed == [], "listening beyond loopback: " + ", ".join(
        f"{s.name} (pid {s.pid}) on {s.address}:{s.port}" for s in exposed)
    # Not vacuous: the processes that listen in every local Ray were seen.
    assert {"gcs_server", "raylet"} <= names, names
    assert {s.pid for s in found} >= {local_ray_driver.pid, actor}
    assert gcs_address.rpartition(":")[0] == "127.0.0.1"


@pytest.mark.parametrize("before", [None, "1"])
def test_the_single_machine_mode_is_put_back_after_the_start(before, monkeypatch):
    """Ray's cluster mode, off while a local Ray starts, is restored after (even on failure)."""
    from ray._private import ray_constants

    if before is None:
        monkeypatch.delenv(connect._CLUSTER_MODE_VAR, raising=False)
    else:
        monkeypatch.setenv(connect._CLUSTER_MODE_VAR, before)
    mode = ray_constants.ENABLE_RAY_CLUSTER
    with pytest.raises(RuntimeError, match="inside"):
        with connect._single_machine():
            assert os.environ[connect._CLUSTER_MODE_VAR] == "0"
            assert ray_constants.ENABLE_RAY_CLUSTER is False
            raise RuntimeError("inside")
    assert os.environ.get(connect._CLUSTER_MODE_VAR) == before
    assert ray_constants.ENABLE_RAY_CLUSTER == mode


def test_a_local_ray_that_comes_up_beyond_loopback_is_shut_down_and_refused(monkeypatch):
    """Should a Ray version ignore the single-machine mode, the start fails (exit 3), not
    the promise."""
    import types

    import ray

    calls = []
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(("init", kw["_node_ip_address"])))
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append(("shutdown",)))
    monkeypatch.setattr(ray, "get_runtime_context",
                        lambda: types.SimpleNamespace(gcs_address="192.0.2.2:6379"))
    with pytest.raises(connect.RayStartError, match="192.0.2.2, not 127.0.0.1") as info:
        connect.start_local_ray(1)
    assert info.value.exit_status == 3
    assert calls == [("init", "127.0.0.1"), ("shutdown",)]


# ---------------------------------------------------------------------------
# An address that is a TCP endpoint but not Ray
# ---------------------------------------------------------------------------
def _serve(reply: bytes | None):
    """A TCP server on 127.0.0.1 that accepts and sends ``reply`` (None: says nothing)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                conn.recv(4096)
                conn.sendall(reply)
                if reply == b"":
                    conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, held


@pytest.fixture(params=[
    (None, r"no reply within 3 s to a gRPC \(HTTP/2\) greeting"),
    (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
     r"it answers HTTP/1 \(a web server\?\), not gRPC"),
    (b"", r"it closed the connection without a reply to a gRPC \(HTTP/2\) greeting"),
    (b"SSH-2.0-OpenSSH_9.6\r\n", r"its reply is not gRPC \(HTTP/2\)"),
], ids=["silent", "http1", "closes", "ssh"])
def not_ray(request):
    """``(HOST:PORT, message)`` of a TCP endpoint on 127.0.0.1 that is not a Ray head."""
    reply, message = request.param
    server, held = _serve(reply)
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", message
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_an_endpoint_that_is_not_a_ray_head_is_refused_at_once(not_ray):
    import time

    address, message = not_ray
    t0 = time.monotonic()
    with pytest.raises(connect.AddressError, match=rf"--address == '{address}': not a Ray head: "
                                                   rf"{message}; give the head's GCS address"):
        connect.check_address(address)
    assert time.monotonic() - t0 < connect.GRPC_REPLY_TIMEOUT_S + 2


def test_a_command_given_an_endpoint_that_is_not_ray_exits_2_in_one_line_leaving_nothing(
        not_ray, tmp_path, mnist_dir, caplog, no_ray_start):
    import time

    from stdp_ray.cli import main

    address, message = not_ray
    t0 = time.monotonic()
    status = main(["test", str(tmp_path / "run"), "--data-dir", str(mnist_dir),
                   "--address", address])
    assert status == 2
    assert time.monotonic() - t0 < connect.GRPC_REPLY_TIMEOUT_S + 5
    logged = [r for r in caplog.records if r.levelno >= 30]  # warnings and errors
    assert len(logged) == 1 and not logged[0].exc_info, caplog.text
    assert "not a Ray head" in logged[0].getMessage()
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_gcs_of_a_running_ray_passes_the_check(ray_local):
    address = ray_local.get_runtime_context().gcs_address
    assert connect.check_address(address) == address
