"""A private ``redis-server`` for tests: a free loopback port, a temporary directory, no persistence.

``with RedisServer() as server: server.url`` starts the server binary (Debian package ``redis-server``) and
stops it by its own process handle on exit. :meth:`kill` and :meth:`restart` let a test take Redis away
mid-run and bring it back on the same port.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from kagura.errors import ServiceUnavailableError

__all__ = ["RedisServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 (``url``), started on enter and stopped on exit."""

    def __init__(self, *, port: int | None = None, binary: str | None = None, startup_timeout: float = 10.0):
        found = binary or shutil.which("redis-server")
        if found is None:
            raise ServiceUnavailableError(
                "redis-server is not installed "
                "(Debian/Ubuntu: apt-get install -y redis-server, or `make services` in kagura's checkout)"
            )
        self.binary = found
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="kagura-redis-")
        log = Path(self._dir.name) / "redis.log"
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir.name, "--logfile", str(log), "--protected-mode", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise ServiceUnavailableError(f"redis-server exited at start: {text.strip()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.kill()
        raise ServiceUnavailableError(
            f"redis-server did not answer on port {self.port} within {self.startup_timeout} s"
        )

    def kill(self) -> None:
        """Stop the server at once (SIGKILL): clients see the connection drop."""
        self.resume()  # a paused process is killed all the same; resume so nothing is left stopped
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, replies stop until :meth:`resume`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server answer again (SIGCONT)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start again on the same port (empty: nothing is persisted)."""
        self.kill()
        self.start()

    def close(self) -> None:
        self.resume()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
