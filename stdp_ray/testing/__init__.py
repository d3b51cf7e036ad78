"""Test infrastructure that must ship inside the package.

What the tests need at run time in processes they do not control, so it
cannot live in ``tests/`` (the fault points that production code marks are
:mod:`stdp_ray.faults`):

- :mod:`stdp_ray.testing.localcluster`: a real two-node Ray cluster on this
  machine (not loopback-only), used by the multi-node tests and
  ``scripts/multinode_demo.py``;
- :mod:`stdp_ray.testing.env`: environment variables set for a block and
  restored (the local cluster's job submission, the tests' S3 server).
- :mod:`stdp_ray.testing.listeners`: the listening TCP sockets of a process
  and its descendants (a local Ray's), used by the tests and
  ``scripts/ray_listeners.py`` to show that a local Ray listens on loopback only.

Nothing else in the package imports this subpackage.
"""
