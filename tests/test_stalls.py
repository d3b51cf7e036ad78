"""Store calls bounded in time and interruptible: a stalled store is one line (exit 3) within
the limit, and Ctrl-C ends a command blocked on it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import TINY, random_network
from stdp_ray import artifact, errors, stalls

#: Runs the command line in a process of its own, as the console script does.
CLI = "import sys; from stdp_ray.cli import main; sys.exit(main())"


def _blocked(release: threading.Event):
    """A store call that answers only once ``release`` is set."""
    def fn():
        release.wait(30)
        return "late"
    return fn


def _store() -> str:
    return f"s3://bucket-{time.monotonic_ns()}"


@pytest.mark.parametrize("limit", ["0.3", "1"])
def test_a_call_the_store_does_not_answer_is_given_up_after_the_limit(monkeypatch, limit):
    monkeypatch.setenv(stalls.TIMEOUT_VARIABLE, limit)
    release = threading.Event()
    store = _store()
    t0 = time.monotonic()
    try:
        with pytest.raises(stalls.StoreStalled,
                           match=rf"^{store}/run: the store \(http://127\.0\.0\.1:9\) has not "
                                 rf"answered for \d+ s \(writing a\.txt\): stalled or unreachable "
                                 rf"\(limit {limit} s, STDP_RAY_STORE_TIMEOUT_S\)$") as info:
            stalls.call(f"{store}/run", store, "writing a.txt", _blocked(release),
                        shown=" (http://127.0.0.1:9)")
        assert float(limit) <= time.monotonic() - t0 < float(limit) + 1
        assert info.value.exit_status == errors.EXIT_ENVIRONMENT
        # While it is still blocked, the next call to the store fails at once.
        t1 = time.monotonic()
        with pytest.raises(stalls.StoreStalled, match=r"\(writing a\.txt\)"):
            stalls.call(f"{store}/run", store, "reading b.txt", lambda: "b")
        assert time.monotonic() - t1 < 0.2
        # Another store is not concerned.
        assert stalls.call("s3://other/run", "s3://other", "reading", lambda: "ok") == "ok"
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while stalls.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    # Once the store answers again, it is used again.
    assert stalls.call(f"{store}/run", store, "reading b.txt", lambda: "b") == "b"


def test_a_call_s_result_and_errors_come_back_as_they_are():
    store = _store()
    assert stalls.call(store, store, "x", lambda a, b: a + b, 1, 2) == 3
    with pytest.raises(FileNotFoundError, match="no such object"):
        stalls.call(store, store, "x", _raise(FileNotFoundError("no such object")))


def _raise(exc):
    def fn():
        raise exc
    return fn


def test_each_byte_moved_adds_to_the_limit(monkeypatch):
    monkeypatch.setenv(stalls.TIMEOUT_VARIABLE, "0.2")
    store = _store()
    slow = lambda: time.sleep(0.6) or "done"  # noqa: E731 - 0.6 s: within 0.2 s + 1 MiB
    assert stalls.call(store, store, "x", slow, nbytes=stalls.BYTES_PER_SECOND) == "done"


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon", "1e9"])
def test_a_limit_that_is_not_seconds_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(stalls.TIMEOUT_VARIABLE, value)
    with pytest.raises(errors.InputError, match=rf"^STDP_RAY_STORE_TIMEOUT_S == '{value}', must "
                                               r"be seconds in \[0\.1, 3600\]$"):
        stalls.store_timeout()


def test_each_runs_every_item_and_raises_the_first_error():
    seen = []
    stalls.each(seen.append, range(20), 4)
    assert sorted(seen) == list(range(20))

    def fail(item):
        if item == 3:
            raise OSError("item 3")
    with pytest.raises(OSError, match="item 3"):
        stalls.each(fail, range(20), 4)


# ---------------------------------------------------------------------------
# Through the command line, against an S3 server stopped with SIGSTOP
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def own_s3(tmp_path_factory):
    """A moto S3 server of this module's own (it is stopped here; the session's is not)."""
    from s3_server import S3Server

    with S3Server() as server:
        yield server


@pytest.fixture
def command_env(own_s3, tmp_path):
    """The environment of a command that uses ``own_s3``."""
    env = dict(os.environ, **own_s3.environment(), STDP_RAY_CACHE=str(tmp_path / "cache"))
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture
def network_dir(tmp_path):
    return artifact.save_network(tmp_path / "shipped", TINY, random_network(TINY),
                                 prov={"seed": 3})


def test_a_command_whose_store_stalls_exits_3_in_one_line_within_the_limit(
        own_s3, command_env, network_dir, tmp_path):
    bucket = own_s3.new_bucket()
    env = dict(command_env, STDP_RAY_STORE_TIMEOUT_S="2")
    uri = f"s3://{bucket}/run"
    with own_s3.stopped():
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-c", CLI, "import", str(network_dir), uri],
                              env=env, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - t0
    assert done.returncode == errors.EXIT_ENVIRONMENT, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"ERROR stdp_ray: {uri}: the store ({own_s3.endpoint}) has not answered for 2 s " \
           "(looking up the bucket): stalled or unreachable (limit 2 s, " \
           "STDP_RAY_STORE_TIMEOUT_S)" in lines[0]
    assert elapsed < 20  # the start of Python and pyarrow, then 2 s
    assert own_s3.keys(bucket) == {}
    assert not list((tmp_path / "cache").glob("mirrors/*"))


def test_a_writer_whose_store_stalls_mid_command_exits_3_naming_the_write(
        own_s3, command_env, network_dir, tmp_path):
    """The lease is taken, then the store stops: the first write that follows is bounded."""
    bucket = own_s3.new_bucket()
    env = dict(command_env, STDP_RAY_STORE_TIMEOUT_S="2")
    uri = f"s3://{bucket}/run"
    log = (tmp_path / "stderr").open("w+")
    child = subprocess.Popen([sys.executable, "-c", CLI, "import", str(network_dir), uri],
                             env=env, stderr=log, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while f"run/.lock" not in own_s3.keys(bucket):  # the lease: the command started
            assert child.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "stderr").read_text()
            time.sleep(0.05)
        with own_s3.stopped():
            t0 = time.monotonic()
            child.wait(timeout=60)
            elapsed = time.monotonic() - t0
    finally:
        child.kill()
        log.close()
    err = (tmp_path / "stderr").read_text()
    assert child.returncode == errors.EXIT_ENVIRONMENT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"ERROR stdp_ray: {uri}: the store ({own_s3.endpoint}) has not answered for" \
        in lines[0]
    assert elapsed < 15, err


def test_ctrl_c_ends_a_command_blocked_on_a_stalled_store_at_once(
        own_s3, command_env, network_dir, tmp_path):
    bucket = own_s3.new_bucket()
    env = dict(command_env, STDP_RAY_STORE_TIMEOUT_S="300")  # the limit is not what ends it
    log = (tmp_path / "stderr").open("w+")
    with own_s3.stopped():
        child = subprocess.Popen([sys.executable, "-c", CLI, "import", str(network_dir),
                                  f"s3://{bucket}/run"], env=env, stderr=log,
                                 stdout=subprocess.DEVNULL)
        try:
            time.sleep(6)  # Python and pyarrow started, the first store call blocked
            assert child.poll() is None, (tmp_path / "stderr").read_text()
            t0 = time.monotonic()
            child.send_signal(signal.SIGINT)
            child.wait(timeout=30)
            elapsed = time.monotonic() - t0
        finally:
            child.kill()
            log.close()
    err = (tmp_path / "stderr").read_text()
    assert child.returncode == errors.EXIT_INTERRUPTED, err
    assert err.strip().splitlines()[-1].endswith("ERROR stdp_ray: interrupted"), err
    assert elapsed < 5, err
