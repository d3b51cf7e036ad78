"""The listening TCP sockets of a process and its descendants, read from ``/proc`` (Linux).

A local Ray's processes (GCS server, raylet, agents, workers) descend from the
driver that started it; :func:`listeners` lists what each of them listens on,
so that a test (and ``scripts/ray_listeners.py``) can show that none listens
beyond loopback. A socket is matched to its process by the inode that
``/proc/PID/fd`` links name and ``/proc/net/tcp{,6}`` list.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Listener", "descendants", "listeners", "is_loopback"]

_PROC = Path("/proc")
#: ``st`` of a listening socket in ``/proc/net/tcp``.
_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    """One listening socket: its process, what it runs, and its local address and port."""

    pid: int
    name: str
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)


def is_loopback(address: str) -> bool:
    """Whether ``address`` reaches this host's loopback only (``::ffff:127.0.0.1`` included).

    Wildcards (``0.0.0.0``, ``::``) and every routable address are not.
    """
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(root: int) -> list[int]:
    """``root`` and every process descending from it, now."""
    children = _parents()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(_PROC / str(pid) / "fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(_PROC / str(pid) / "fd" / fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _decode(hex_address: str, family: int) -> str:
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, words)


def _listening() -> dict[int, tuple[str, int]]:
    """Every listening TCP socket of this network namespace: inode -> (address, port)."""
    found = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:  # no IPv6
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != _LISTEN:
                continue
            address, port = fields[1].split(":")
            found[int(fields[9])] = (_decode(address, family), int(port, 16))
    return found


def _name(pid: int) -> str:
    try:
        argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    first = argv[0].decode(errors="replace")
    if first.startswith("ray::"):
        return first.split()[0]
    name = os.path.basename(first)
    if name.startswith("python"):
        args = [a.decode(errors="replace") for a in argv[1:] if a]
        for k, arg in enumerate(args):
            if arg == "-c":
                return f"{name} -c"
            if arg == "-m":
                return " ".join([name, *args[k:k + 2]])
            if not arg.startswith("-"):
                return f"{name} {os.path.basename(arg)}"
    return name


def listeners(root: int) -> list[Listener]:
    """The listening TCP sockets of ``root`` and its descendants, by pid then port."""
    sockets = _listening()
    found = []
    for pid in descendants(root):
        for inode in _socket_inodes(pid):
            if inode in sockets:
                found.append(Listener(pid, _name(pid), *sockets[inode]))
    return sorted(found, key=lambda s: (s.pid, s.port))
