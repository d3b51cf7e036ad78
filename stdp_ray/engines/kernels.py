"""Compiled kernels: where a hand-written C++ kernel comes from and how it is loaded.

A kernel is a plain shared library without Python bindings, loaded with
``ctypes``. It is built when the package is installed (``setup.py``, as an
optional extension) for the installing machine's CPU. Where that build is
missing or older than its sources (a source checkout used without
installing, an editable checkout after an edit), it is compiled once per
node into ``<name>/`` of the node-local cache (:func:`stdp_ray.paths.cache_dir`)
under a file lock, keyed by the sources, the compiler, its flags and the CPU.

:class:`KernelBuild` describes one kernel; the native (exact) and fast
engines each own one.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import hashlib
import importlib.util
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExternalError
from ..paths import cache_dir
from .base import toolchain_parts

logger = logging.getLogger(__name__)

__all__ = ["KernelBuild", "KernelUnavailable", "compiler", "pointer"]


class KernelUnavailable(ExternalError):
    """A kernel is neither installed nor can it be compiled here."""


def pointer(array, ctype):
    """A ctypes pointer to a C-contiguous array of the kernel's element type ``ctype``."""
    if not array.flags.c_contiguous:
        raise ValueError("kernel arrays must be C-contiguous")
    return array.ctypes.data_as(ctypes.POINTER(ctype))


def compiler() -> str:
    """The C++ compiler used for kernels (``$CXX``, default ``g++``)."""
    return os.environ.get("CXX", "g++")


@dataclass(frozen=True)
class KernelBuild:
    """One compiled kernel.

    Attributes
    ----------
    name : str
        Short name, used in the cache's file names and in messages (``native``).
    sources : tuple of Path
        The main source first, then the headers it includes.
    flags : tuple of str
        Compiler flags of both builds (install time and cache).
    installed : str
        Module name of the build made at install time.
    abi_symbol : str
        A function of the library returning its interface version (int64).
    abi : int
        The version the Python side speaks.
    hint : str
        What to do when the kernel cannot be had (ends the error message).
    """

    name: str
    sources: tuple[Path, ...]
    flags: tuple[str, ...]
    installed: str
    abi_symbol: str
    abi: int
    hint: str

    def source_key(self) -> str:
        """Hash of the sources, the flags and the toolchain (names the cached build)."""
        return _source_key(self)

    def compile_into_cache(self) -> Path:
        """Compile the kernel once per node into the build cache; returns the library's path."""
        cache = cache_dir() / self.name
        cache.mkdir(parents=True, exist_ok=True)
        key = self.source_key()
        target = cache / f"kernel-{key}.so"
        if target.exists():
            return target
        with open(cache / f"kernel-{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if target.exists():
                return target
            fd, tmp = tempfile.mkstemp(prefix=".kernel.", suffix=".so", dir=cache)
            os.close(fd)
            cmd = [compiler(), *self.flags, f"-I{self.sources[0].parent}", str(self.sources[0]),
                   "-o", tmp]
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=600)
            except OSError as exc:
                os.unlink(tmp)
                raise KernelUnavailable(f"{self.name} kernel: cannot run the compiler "
                                        f"{compiler()!r} ({exc}); {self.hint}") from exc
            if proc.returncode != 0:
                os.unlink(tmp)
                raise KernelUnavailable(f"{self.name} kernel: compilation failed: "
                                        + proc.stderr.decode(errors="replace")[-2000:])
            os.replace(tmp, target)
            logger.info("%s kernel compiled into %s", self.name, target)
        return target

    def stale(self, path: Path) -> bool:
        """An installed build older than its sources (an editable checkout after an edit)."""
        try:
            return any(src.stat().st_mtime > path.stat().st_mtime for src in self.sources)
        except OSError:
            return False

    def library(self) -> ctypes.CDLL:
        """The loaded kernel: the installed build, else one compiled once per node.

        Raises
        ------
        KernelUnavailable
            If it cannot be compiled or speaks another interface version.
        """
        return _library(self)


@functools.lru_cache(maxsize=None)
def _source_key(build: KernelBuild) -> str:
    parts = [p.read_bytes() for p in build.sources] + [" ".join(build.flags).encode()]
    return hashlib.sha256(b"\0".join(parts + toolchain_parts())).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _library(build: KernelBuild) -> ctypes.CDLL:
    spec = importlib.util.find_spec(build.installed)
    path = Path(spec.origin) if spec is not None and spec.origin else None
    if path is None or not path.is_file() or build.stale(path):
        path = build.compile_into_cache()
    lib = ctypes.CDLL(str(path))
    abi = getattr(lib, build.abi_symbol)
    abi.restype = ctypes.c_int64
    if abi() != build.abi:
        raise KernelUnavailable(f"{path}: {build.name} kernel interface {abi()}, this stdp-ray "
                                f"needs {build.abi}; reinstall stdp-ray")
    logger.debug("%s kernel %s", build.name, path)
    return lib
