"""Engines: where an ingestion run's per-file work happens.

:class:`LocalEngine` runs it in this process; :class:`RayEngine` fans the changed files out over a Ray
cluster, and owns the connection to it (and the local cluster it started, if any). Both take an
:class:`IngestJob` from ``MultimodalRAG.load_directory`` and report into its run alike. Only
``engines.ray`` imports Ray.
"""

from kagura.core.memory.engines._choose import ENGINE_NAMES, engine_for
from kagura.core.memory.engines._local import LocalEngine
from kagura.core.memory.engines.ray import RayEngine
from kagura.core.memory.ingestion._job import Engine, IngestJob

__all__ = ["ENGINE_NAMES", "Engine", "IngestJob", "LocalEngine", "RayEngine", "engine_for"]
