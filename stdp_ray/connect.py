"""Joining a Ray cluster, or starting a local one (what every simulating command does first)."""

from __future__ import annotations

import os

__all__ = ["init_ray"]


def init_ray(address: str | None = None, workers: int | None = None) -> None:
    """Join ``address`` (or ``$RAY_ADDRESS``), else start a local Ray with ``workers`` CPUs.

    Does nothing when Ray is already initialised in this process.

    Parameters
    ----------
    address : str, optional
        A cluster's address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``).
        Default: ``$RAY_ADDRESS``; without it a local Ray is started.
    workers : int, optional
        CPUs of the local Ray (default: every CPU of this machine). Ignored
        when joining a cluster.
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
