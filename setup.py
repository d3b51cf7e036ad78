"""Build of the engines' kernels (everything else is in pyproject.toml).

Each kernel is a plain C++ shared library without Python bindings, loaded with
ctypes (stdp_ray/engines/native.py, the exact one; stdp_ray/engines/fast.py).
Each is compiled here, at install time, for
the installing machine's CPU (-march=native; set STDP_RAY_PORTABLE_KERNEL=1 to
build a portable one, e.g. for a wheel shared between different CPUs), with
the floating-point flags that keep the exact kernel bit-identical to Brian2's
generated code. Without a working compiler the install still succeeds; a
kernel is then compiled at first use, or its engine reports itself unavailable.
"""

import os

from setuptools import Extension, setup

flags = ["-O3", "-std=c++17", "-fno-fast-math", "-ffp-contract=off", "-fopenmp"]
if os.environ.get("STDP_RAY_PORTABLE_KERNEL", "") in ("", "0"):
    flags.insert(1, "-march=native")

# The fast kernel has no bit-identity to keep: contraction to FMA is allowed.
fast_flags = [f for f in flags if f not in ("-fno-fast-math", "-ffp-contract=off")]
fast_flags.append("-fno-math-errno")


def kernel(name: str, compile_args: list[str]) -> Extension:
    """One kernel: ``stdp_ray/engines/<name>_kernel.cpp`` as an optional extension."""
    return Extension(f"stdp_ray.engines._{name}_kernel",
                     sources=[f"stdp_ray/engines/{name}_kernel.cpp"],
                     depends=["stdp_ray/engines/input_hash.h"],
                     include_dirs=["stdp_ray/engines"], extra_compile_args=compile_args,
                     extra_link_args=["-fopenmp"], language="c++", optional=True)


setup(ext_modules=[kernel("native", flags), kernel("fast", fast_flags)])
