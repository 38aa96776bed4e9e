"""One listening socket per worker, so `serve --workers N` spreads connections over the workers.

uvicorn's own multi-worker mode binds one socket in the parent and hands it to every worker.
Each worker's event loop, woken by a new connection, accepts every connection waiting in the
queue in one go; a client that opens its keep-alive connections together (a load balancer, a
proxy's pool, `wrk`) lands them all on whichever worker woke first and keeps them there, so one
worker does the work of two while the other idles. Measured with 32 `wrk` connections: 7 of 8
rounds had 29 to 32 of them on one worker (issue #20, docs/benchmarks.md).

On Linux each worker here listens on a socket of its own, all bound to the same address with
`SO_REUSEPORT`; the kernel then picks a worker for each new connection by a hash of its
addresses, before any worker is woken. The parent keeps a bound, non-listening socket on the
address (which resolves `--port 0` and keeps the port taken between worker restarts); what a
worker receives when uvicorn pickles that socket into it is a fresh socket on the same address
(`WorkerSocket.__reduce_ex__`). Elsewhere (`SO_REUSEPORT` does not balance on macOS, and does
not exist on Windows) `balanced_listeners` says no and uvicorn's shared socket is used as before.
"""

from __future__ import annotations

import socket
import sys
from typing import Any


def balanced_listeners() -> bool:
    """Whether this platform spreads connections over `SO_REUSEPORT` sockets (Linux does)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def family_of(host: str) -> socket.AddressFamily:
    """uvicorn's rule: a host with a colon is an IPv6 address, anything else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class WorkerSocket(socket.socket):
    """The parent's hold on the workers' address: bound with `SO_REUSEPORT`, never listening.

    Pickled into a worker it is rebuilt by `worker_listener` as that worker's own socket."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (worker_listener, (int(self.family), host, port))


def worker_listener(family: int, host: str, port: int) -> socket.socket:
    """A socket of the calling worker's own on (host, port), bound beside the others; uvicorn
    makes it listen when the worker starts serving."""
    sock = socket.socket(socket.AddressFamily(family), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    bind_shared(sock, host, port)
    sock.set_inheritable(True)
    return sock


def bind_shared(sock: socket.socket, host: str, port: int) -> None:
    """Bind `sock` to (host, port) beside the other sockets there with `SO_REUSEPORT`; closed
    when that fails."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise


def hold_address(host: str, port: int) -> WorkerSocket:
    """The parent's socket on (host, port), or `OSError` when the address is taken.

    A plain bind comes first: `SO_REUSEPORT` alone would let this server share a port that
    another server of the same user already listens on and quietly take half its traffic."""
    family = family_of(host)
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sock = WorkerSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    bind_shared(sock, host, port)
    return sock
