"""Checking a Ray cluster address before ``ray.init`` is given it.

``ray.init(address="host:port")`` retries an unreachable GCS for many minutes (822 s measured for
``127.0.0.1:1``) before it says "cannot reach". :func:`check_reachable` opens one TCP connection to the
address's port first, with a short timeout, and checks that a gRPC server answers there (the GCS and the
Ray Client server are gRPC: an HTTP/2 server answers the client preface with a SETTINGS frame at once),
so a wrong or dead address, or another service's port, is one clear error within seconds.
``"auto"``, ``"local"`` and ``None`` (find or start a cluster: Ray already answers those quickly) are left
to Ray; ``ray://host:port`` (Ray Client) is probed like ``host:port``.
"""

from __future__ import annotations

import os
import socket

from kagura._checks import check_seconds
from kagura.errors import ConfigurationError

__all__ = ["PROBE_TIMEOUT", "check_reachable", "host_and_port"]

#: Seconds to wait for the cluster's port to accept a connection before giving up on the address.
PROBE_TIMEOUT = 5.0
_LEFT_TO_RAY = ("auto", "local")


def host_and_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` / ``ray://host:port`` / ``[v6]:port`` address; None for the
    addresses Ray resolves itself (``auto``, ``local``). ConfigurationError for anything else."""
    text = address.strip()
    if text.lower() in _LEFT_TO_RAY:
        return None
    rest = text[len("ray://") :] if text.lower().startswith("ray://") else text
    host, colon, port = rest.rstrip("/").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if (
        not colon
        or not host
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65536
        or any(c.isspace() for c in host)
    ):
        raise ConfigurationError(
            f"the Ray address {address!r} is not 'auto', 'host:port' or 'ray://host:port' "
            "(the cluster's GCS address, as printed by `ray start --head`)"
        )
    return host, int(port)


def check_reachable(address: str | None, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`ConfigurationError` (with the reason) when nothing accepts a connection at
    ``address``'s port within ``timeout`` seconds; return at once for ``None``/``auto``/``local``."""
    check_seconds("timeout", timeout, allow_zero=False)
    if address is None:
        return
    target = host_and_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout) as sock:
            # a cluster with TLS (RAY_USE_TLS) speaks TLS first: only the connection is checked then
            grpc = _uses_tls() or _speaks_grpc(sock)
            reason = None if grpc else "something answers, but not a Ray cluster (no gRPC)"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    if reason is None:
        return
    raise ConfigurationError(
        f"cannot reach the Ray cluster at {address!r}: {reason} (is `ray start --head` running there, "
        "and is this its GCS port?)"
    )


# the HTTP/2 client connection preface, then an empty SETTINGS frame (length 0, type 4, flags 0, stream 0)
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4


def _uses_tls() -> bool:
    return os.environ.get("RAY_USE_TLS", "").strip().lower() in ("1", "true", "yes")


def _speaks_grpc(sock: socket.socket) -> bool:
    """Whether the server on ``sock`` answers an HTTP/2 preface with a SETTINGS frame, as gRPC servers do
    first thing (the socket's timeout bounds the wait)."""
    sock.sendall(_PREFACE)
    header = b""
    while len(header) < 9:
        block = sock.recv(9 - len(header))
        if not block:
            return False
        header += block
    return header[3] == _SETTINGS
