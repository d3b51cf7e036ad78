"""stdp-ray: Diehl & Cook (2015) unsupervised STDP on MNIST, with Brian2 and Ray.

The workflow, as functions (:mod:`stdp_ray.api`; each does what the
``stdp-ray`` command of the same name does)::

    import stdp_ray

    stdp_ray.run("runs/demo", {"n_neurons": 100}, samples=1000, observe_samples=1000,
                 test_samples=1000)
    run = stdp_ray.load_run("runs/demo")

Every name of :data:`stdp_ray.api.__all__` is exported here. ``import stdp_ray``
imports neither Ray nor Brian2: the API imports them only when a command runs.
"""

__version__ = "0.1.0"

from . import api as _api  # noqa: E402 - after __version__, which the API's modules read
from .api import *  # noqa: E402,F401,F403 - the API is the package's face

__all__ = ["__version__", *_api.__all__]
