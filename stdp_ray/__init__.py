"""stdp-ray: Diehl & Cook (2015) unsupervised STDP on MNIST, with Brian2 and Ray.

The workflow, as functions (:mod:`stdp_ray.api`; each does what the
``stdp-ray`` command of the same name does)::

    import stdp_ray

    stdp_ray.run("runs/demo", {"n_neurons": 100}, samples=1000, observe_samples=1000,
                 test_samples=1000)
    run = stdp_ray.load_run("runs/demo")

``train``, ``observe``, ``test``, ``run``, ``ensemble``, ``sweep``, ``load_run``
and ``init_ray`` are imported on first use: ``import stdp_ray`` imports neither
Ray nor Brian2.
"""

__version__ = "0.1.0"

#: The names exported lazily, each from :mod:`stdp_ray.api`.
_API = ("train", "observe", "test", "run", "ensemble", "sweep", "load_run", "init_ray",
        "Run", "make_config")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        value = getattr(api, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
