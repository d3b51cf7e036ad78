#!/usr/bin/env python
"""Start a local Ray the package's way (one actor running), list what each of its processes
listens on, and try each port through this machine's routable address.

    python scripts/ray_listeners.py [--ray-default] [--routable IP]

--ray-default starts it as Ray does by itself (``ray.init(_node_ip_address="127.0.0.1")``,
without the single-machine mode), to compare. Ray's temporary files go to a new
directory under /tmp, removed at the end; only this script's own Ray is stopped.
Fixed ports that another Ray on the machine holds (the dashboard agent's 52365,
the metrics servers' 44217 and 44227) fail to bind and are then missing from the
table: run it where no other Ray runs (or in a network namespace of its own).
"""
import argparse
import os
import shutil
import socket
import sys
import tempfile
import time


def _reachable(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=2):
            return True
    except OSError:
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ray-default", action="store_true",
                   help="start Ray as it does by itself, not the package's way")
    p.add_argument("--routable", default=None,
                   help="the address to try each port through (default: the one Ray would pick)")
    args = p.parse_args(argv)
    temp = tempfile.mkdtemp(prefix="rl-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = temp
    os.environ.pop("RAY_ADDRESS", None)
    import ray
    from ray._raylet import node_ip_address_from_perspective

    from stdp_ray import connect
    from stdp_ray.testing.listeners import listeners

    routable = args.routable or node_ip_address_from_perspective()
    try:
        if args.ray_default:
            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
                     _node_ip_address=connect.LOCAL_HOST)
        else:
            connect.start_local_ray(1, log_to_driver=False)

        @ray.remote(num_cpus=0)
        class Echo:
            def pid(self):
                return os.getpid()

        actor = Echo.remote()
        actor_pid = ray.get(actor.pid.remote())
        time.sleep(5)  # the agents' and metrics servers' late listeners
        print(f"Ray {ray.__version__}; GCS at {ray.get_runtime_context().gcs_address}; "
              f"routable address tried: {routable}")
        print(f"{'process':<28} {'address':<18} {'port':>6}  {'loopback':<8}  reachable via "
              f"{routable}")
        for s in listeners(os.getpid()):
            name = "driver" if s.pid == os.getpid() else \
                "actor " + s.name if s.pid == actor_pid else s.name
            print(f"{name:<28} {s.address:<18} {s.port:>6}  {'yes' if s.loopback else 'NO':<8}  "
                  f"{'YES' if _reachable(routable, s.port) else 'no'}")
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
