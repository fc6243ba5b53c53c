"""The start-up error for a port the executor cannot listen on, naming the configuration key:
`grpcPort: cannot listen on [::]:9090: Address already in use (another process listens there;
free it or choose another port)`.

gRPC reports a failed bind without its cause, so `bind_problem` binds a plain socket to the same
address to learn it (EADDRINUSE, EACCES, EADDRNOTAVAIL).
"""

from __future__ import annotations

import errno
import os
import socket

from hourglass_executor.server.components import StartupError

_HINTS = {
    errno.EADDRINUSE: "another process listens there; stop it or choose another port",
    errno.EACCES: "ports below 1024 need privileges; choose a port of 1024 or above",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's",
}


def listen_error(key: str, address: str, error: OSError | str) -> StartupError:
    """`<key>: cannot listen on <address>: <reason> (<hint>)`."""
    if isinstance(error, OSError):
        reason = os.strerror(error.errno) if error.errno else str(error)
        hint = _HINTS.get(error.errno or 0)
        if hint:
            reason = f"{reason} ({hint})"
    else:
        reason = error
    return StartupError(f"{key}: cannot listen on {address}: {reason}")


def bind_problem(host: str, port: int) -> OSError | None:
    """Why binding `host:port` fails now: the port is taken or needs privileges (None otherwise,
    also when the probe itself cannot run, e.g. IPv6 is off: then the server's own bind decides)."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return error if error.errno in (errno.EADDRINUSE, errno.EACCES) else None
    return None
