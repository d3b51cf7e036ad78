"""Build of the native engine's kernel (everything else is in pyproject.toml).

The kernel is a plain C++ shared library without Python bindings, loaded with
ctypes (stdp_ray/engines/native.py). It is compiled here, at install time, for
the installing machine's CPU (-march=native; set STDP_RAY_PORTABLE_KERNEL=1 to
build a portable one, e.g. for a wheel shared between different CPUs), with
the floating-point flags that keep it bit-identical to Brian2's generated code.
Without a working compiler the install still succeeds; the kernel is then
compiled at first use, or the native engine reports itself unavailable.
"""

import os

from setuptools import Extension, setup

flags = ["-O3", "-std=c++17", "-fno-fast-math", "-ffp-contract=off", "-fopenmp"]
if os.environ.get("STDP_RAY_PORTABLE_KERNEL", "") in ("", "0"):
    flags.insert(1, "-march=native")

setup(ext_modules=[Extension(
    "stdp_ray.engines._native_kernel",
    sources=["stdp_ray/engines/native_kernel.cpp"],
    depends=["stdp_ray/engines/input_hash.h"],
    include_dirs=["stdp_ray/engines"],
    extra_compile_args=flags,
    extra_link_args=["-fopenmp"],
    language="c++",
    optional=True,
)])
