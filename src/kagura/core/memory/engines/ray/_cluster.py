"""The Ray engine's hold on a cluster: joined on first use, left on close, and stopped for good when it was
started here.

* ``ray.init`` with no address and no cluster to find starts a local one: a GCS server, a raylet, a
  dashboard head, log and autoscaler monitors, and under the raylet a dashboard agent, a runtime-env agent
  (~190 MB together) and the worker processes. ``ray.shutdown()`` stops the processes it started itself but
  leaves the agents and workers to notice on their own, which took 1 to 3 minutes. :meth:`RayCluster.leave`
  stops every process of a cluster started here, the whole tree, before it returns.
* Ray starts its raylet with a parent-death signal, and Linux sends it when the *thread* that started it
  ends: a cluster started from a worker thread of the event loop's executor lost its raylet (and left its
  workers and agents orphaned) as soon as that thread ended. :meth:`RayCluster.join` runs on the cluster's
  own thread (:attr:`RayCluster.home`), which lives until :meth:`RayCluster.leave`.
* Ray writes its own warnings ("SIGTERM handler is not set ...", "Token authentication is enabled ...") to
  stderr through its ``ray`` logger. While connected, records below ERROR reach this module's logger at
  DEBUG instead (``logging.getLogger("kagura.engines.ray")``); errors are still printed.

A cluster this process was already connected to is used as is and left connected.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from kagura._extras import missing_extra
from kagura.core.memory.engines.ray._address import PROBE_TIMEOUT, check_reachable
from kagura.errors import ConfigurationError

__all__ = ["RayCluster", "import_ray"]

T = TypeVar("T")

logger = logging.getLogger("kagura.engines.ray")
STOP_GRACE = 5.0
"""Seconds the processes of a cluster started here get to exit after SIGTERM, before SIGKILL."""


def import_ray() -> Any:
    """The ``ray`` module, or a MissingExtraError (a ConfigurationError) naming the ``ray`` extra."""
    try:
        import ray
    except ImportError as exc:
        raise missing_extra("ray", "engine='ray' (distributed ingestion)") from exc
    return ray


class _ToDebug(logging.Filter):
    """On Ray's console handlers: a record below ERROR goes to kagura's logger at DEBUG, not to stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("ray %s: %s", record.levelname.lower(), record.getMessage())
        return False


class RayCluster:
    """This engine's connection: :meth:`join` on first use, :meth:`leave` on close (blocking calls)."""

    def __init__(self, address: str | None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.ray: Any = None
        self.joined_here = False
        self._started: list[Any] = []  # psutil.Process of each process ray.init started here
        self._quiet = _ToDebug()
        self._quieted: list[logging.Handler] = []
        self._home: ThreadPoolExecutor | None = None

    def at_home(self, call: Callable[[], T]) -> Future[T]:
        """Run ``call`` on the cluster's own thread (started on first use, ended by :meth:`leave`): a
        cluster started there keeps its raylet as long as the thread lives."""
        if self._home is None:
            self._home = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kagura-ray")
        return self._home.submit(call)

    def join(self, probe_timeout: float = PROBE_TIMEOUT) -> Any:
        """The ``ray`` module, connected (blocking: call it through :meth:`at_home`): to the cluster this
        process is on already (used as is), else to the one at ``address`` (``"auto"``, ``"host:port"``),
        else a new local one. A ``host:port`` that accepts no connection within ``probe_timeout`` seconds
        is a ConfigurationError at once (Ray would retry it for many minutes)."""
        ray = import_ray()
        self.ray = ray
        self._quiet_ray_logs()
        if ray.is_initialized():
            return ray
        check_reachable(self.address, probe_timeout)
        import psutil

        me = psutil.Process()
        before = {child.pid for child in me.children()}
        options: dict[str, Any] = {}
        if self.num_cpus is not None:
            options["num_cpus"] = self.num_cpus
        try:
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="WARNING",
                **options,
            )
        except ConnectionError as exc:
            raise ConfigurationError(f"cannot reach the Ray cluster at {self.address!r}: {exc}") from exc
        finally:
            self._started = [child for child in me.children() if child.pid not in before]
        self.joined_here = True
        return ray

    def leave(self) -> None:
        """Disconnect if :meth:`join` connected, and stop every process of a cluster it started (the
        whole tree: agents and workers too); give Ray's log lines back to stderr. Idempotent."""
        ray, joined, started = self.ray, self.joined_here, self._started
        home, self._home = self._home, None
        self.joined_here, self._started = False, []
        try:
            if ray is not None and joined and ray.is_initialized():
                tree = _with_descendants(started)  # before shutdown: orphans are found by parent no more
                ray.shutdown()
                _stop(tree)  # the raylets are gone now: they start no more workers
                _stop(_workers_of(p.pid for p in started if _named(p, "raylet")))
        finally:
            self._unquiet_ray_logs()
            if home is not None:
                home.shutdown(wait=False)

    def _quiet_ray_logs(self) -> None:
        if self._quieted:
            return
        for handler in logging.getLogger("ray").handlers:
            handler.addFilter(self._quiet)
            self._quieted.append(handler)

    def _unquiet_ray_logs(self) -> None:
        for handler in self._quieted:
            handler.removeFilter(self._quiet)
        self._quieted = []


def _with_descendants(roots: list[Any]) -> list[Any]:
    """``roots`` and every process below them, as now."""
    import psutil

    found: list[Any] = []
    for root in roots:
        try:
            found.extend([root, *root.children(recursive=True)])
        except psutil.Error:
            continue
    return found


def _named(process: Any, name: str) -> bool:
    import psutil

    try:
        return bool(process.name() == name)
    except psutil.Error:
        return False


def _workers_of(raylets: Iterable[int]) -> list[Any]:
    """The worker processes the raylets ``raylets`` started (they carry ``RAY_RAYLET_PID``), wherever they
    are now: one started while the cluster was stopping is no one's child any more."""
    import psutil

    wanted = {str(pid) for pid in raylets}
    found: list[Any] = []
    if not wanted:
        return found
    for process in psutil.process_iter():
        try:
            if process.environ().get("RAY_RAYLET_PID") in wanted:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def _stop(processes: list[Any], grace: float = STOP_GRACE) -> None:
    """SIGTERM each of ``processes`` still running, SIGKILL those still there ``grace`` seconds later, and
    wait for them (each is checked by pid and start time: a reused pid is never signalled)."""
    import psutil

    alive: list[Any] = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                process.terminate()
            alive.append(process)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(alive, timeout=grace if math.isfinite(grace) else None)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=grace)
