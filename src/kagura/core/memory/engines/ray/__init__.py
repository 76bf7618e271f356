"""The Ray engine: :class:`RayEngine` (the connection and the run's driver side), the worker side, how the
workers reach the store, and address checks.

The only package that imports ``ray`` (``pip install 'kagura[ray]'``), and only when a run needs it.
"""

from kagura.core.memory.engines.ray._engine import RayEngine

__all__ = ["RayEngine"]
