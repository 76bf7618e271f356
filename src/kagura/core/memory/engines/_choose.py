"""The one place an engine *name* becomes an engine object (``engine="ray"`` is shorthand for
``engine=RayEngine(address=..., workers=...)``); everywhere else an engine is an object."""

from __future__ import annotations

from kagura.core.memory.engines._local import LocalEngine
from kagura.core.memory.engines.ray import RayEngine
from kagura.core.memory.ingestion._job import Engine

__all__ = ["ENGINE_NAMES", "engine_for"]

ENGINE_NAMES = ("local", "ray")


def engine_for(
    engine: Engine | str, *, ray_address: str | None = None, ray_workers: int | None = None
) -> tuple[Engine, bool]:
    """``(the engine, made_here)``: ``engine`` itself when it is an :class:`Engine`, else a new one for the
    name (``"local"`` or ``"ray"``, with ``ray_address``/``ray_workers``); ``made_here`` says the caller
    made it and so closes it.

    Raises ValueError for an unknown name, or Ray options with another engine (give them to ``RayEngine``
    when passing an object); TypeError for anything that is neither a name nor an engine."""
    if ray_address is not None and not isinstance(ray_address, str):
        raise ValueError(f"ray_address must be a str or None, got {type(ray_address).__name__}")
    if ray_workers is not None and (
        isinstance(ray_workers, bool) or not isinstance(ray_workers, int) or ray_workers < 1
    ):
        raise ValueError(f"ray_workers must be an int >= 1 or None, got {ray_workers!r}")
    if isinstance(engine, str):
        if engine not in ENGINE_NAMES:
            names = ", ".join(map(repr, ENGINE_NAMES))
            raise ValueError(f"unknown engine {engine!r}: use one of {names} or an Engine object")
        if engine == "ray":
            return RayEngine(ray_address, workers=ray_workers), True
        if ray_address is not None or ray_workers is not None:
            raise ValueError("ray_address and ray_workers are only used with engine='ray' (--engine ray)")
        return LocalEngine(), True
    if not isinstance(engine, Engine):
        raise TypeError(
            "engine must be 'local', 'ray' or an Engine (LocalEngine, RayEngine),"
            f" got {type(engine).__name__}"
        )
    if ray_address is not None or ray_workers is not None:
        raise ValueError("ray_address and ray_workers go to RayEngine(...) when an engine object is given")
    return engine, False
