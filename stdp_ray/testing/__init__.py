"""Test infrastructure that must ship inside the package.

Two things the tests need at run time in processes they do not control, so
they cannot live in ``tests/``:

- :mod:`stdp_ray.testing.faults`: the fault-injection hook that Ray workers and
  training actors call (a process kills itself at a named point, once);
- :mod:`stdp_ray.testing.localcluster`: a real two-node Ray cluster on
  127.0.0.1, used by the multi-node tests and ``scripts/multinode_demo.py``;
- :mod:`stdp_ray.testing.env`: environment variables set for a block and
  restored (the local cluster's job submission, the tests' S3 server).

Nothing else in the package imports this subpackage, except the hook.
"""
