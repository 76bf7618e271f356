"""``kagura bench ray``: ``load_directory(engine="ray")`` against the local engine, side by side.

Rows (``serial`` = the local engine, ``parallel`` = the Ray engine, each on a fresh store):

* ``cpu-bound text ingest``: N text files embedded by the local MiniLM, ``max_concurrent=5`` locally vs
  2 Ray workers (``ray_workers=2``) on a 2-CPU local cluster. Goal: >= 1.7x on 2 cores. The local run is
  a fresh process with one numeric thread and the OS priority of Ray's workers, as each Ray worker has
  (Ray sets ``OMP_NUM_THREADS=1`` and starts its workers niced);
  ``extra.local_default_threads_s`` is the same local run with the numeric library's default threads
  (``--quick`` and the tiny corpus only: on a loaded machine it can take several times longer).
* ``tiny corpus overhead``: 4 small files, same comparison: what fanning out costs when there is
  nothing to gain (``extra``: the difference in ms).
* ``worker killed mid-run``: the Ray run again, its first worker killed (``os._exit``) in the middle of a
  batch by :class:`kagura.testing.ExitOnceEmbedder`; ``serial`` is the undisturbed Ray run. ``extra``
  counts files lost and chunks duplicated against the local engine's store (both must be 0).
* ``media descriptions``: tiny PNGs described by 4 Ray workers under one 1,200 RPM quota enforced per
  second (burst 20) by the fake provider in its own process, the budget told to kagura; ``serial`` = each
  worker enforcing it alone, ``parallel`` = shared through a private ``redis-server`` (see
  :mod:`kagura.bench._ray_media`). Goal (shared): <= 0.5% 429, >= 95% of the quota used. These workers
  wait on the network, so a cluster the benchmark started itself is restarted with 4 logical CPUs for
  this row (after the CPU-bound rows, which keep their 2-CPU cluster); its restart is reported apart.

The cluster's start (``ray.init``) and the first run's worker start + model load are timed apart and
reported in the first row's ``extra``, never inside a comparison. When this process is already connected
to a cluster, that one is used and its start is not measured.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from pathlib import Path

from kagura.bench._ray_media import MediaSizes, describe_on_ray
from kagura.bench._report import BenchRow
from kagura.bench.ingest import _write_images, _write_texts
from kagura.core.memory import Engine, MultimodalRAG, RayEngine, get_default_embedder
from kagura.errors import WorkerProcessError
from kagura.testing import ExitOnceEmbedder, FakeLLMProcess, RedisServer

__all__ = ["media_row", "run"]

WORKERS = 2
MEDIA_WORKERS = 4
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _start_cluster(engine: RayEngine) -> float | None:
    """Seconds ``engine`` took to start (or join) its cluster, or None if this process was already
    connected to one (which is then used as is)."""
    started = time.perf_counter()
    return time.perf_counter() - started if engine.connect() else None


async def _ingest(store: Path, corpus: Path, engine: Engine, **kwargs: object) -> tuple[float, MultimodalRAG]:
    rag = MultimodalRAG(store, **kwargs)  # type: ignore[arg-type]
    started = time.perf_counter()
    await rag.load_directory(corpus, engine=engine)
    elapsed = time.perf_counter() - started
    report = rag.last_report
    assert report is not None and report.completed and not report.failed, report and report.failed
    return elapsed, rag


def _niceness() -> int:
    return os.nice(0)


def _worker_niceness() -> int:
    """The scheduling priority Ray gives its worker processes (it starts them niced, 15 by default); the
    one use of Ray itself outside the engine (the import contract lists it)."""
    import ray

    return int(ray.get(ray.remote(num_cpus=0)(_niceness).remote()))


async def _local(corpus: Path, store: Path, threads: int | None) -> float:
    """A local-engine ingest in a fresh process, at the priority of Ray's workers (on a busy machine a
    niced process gets a fraction of a normal one's CPU); ``threads``: numeric threads (None: the
    library's default). Returns the ingest's seconds."""
    nice = await asyncio.to_thread(_worker_niceness) - os.nice(0)
    env = dict(os.environ)
    for name in _THREAD_VARS:
        env.pop(name, None)
        if threads is not None:
            env[name] = str(threads)
    process = await asyncio.create_subprocess_exec(
        *("nice", "-n", str(nice)) if nice > 0 else (),
        sys.executable,
        "-m",
        "kagura.bench._ray_local",
        str(corpus),
        str(store),
        env=env,
        stdout=PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise WorkerProcessError(f"local ingest of {corpus} failed (exit {process.returncode})")
    return float(out.decode().strip().splitlines()[-1])


async def _compare(
    tmp: Path, name: str, corpus: Path, files: int, engine: RayEngine, *, default_threads: bool
) -> tuple[BenchRow, MultimodalRAG]:
    """Local (one numeric thread, as each Ray worker has) vs Ray; with ``default_threads``, the local run
    with the library's default threads too (slow on a loaded machine: measured on small corpora only)."""
    local_s = await _local(corpus, tmp / f"{name}-local.db", 1)
    default_s = await _local(corpus, tmp / f"{name}-default.db", None) if default_threads else None
    ray_s, ray = await _ingest(tmp / f"{name}-ray.db", corpus, engine)
    ray.close()
    local = MultimodalRAG(tmp / f"{name}-local.db")
    chunks = local.store.counts()["chunks"]
    row = BenchRow(
        name,
        files,
        local_s,
        ray_s,
        extra={
            "chunks": chunks,
            "workers": WORKERS,
            "difference_ms": round((ray_s - local_s) * 1000, 1),
            "local_default_threads_s": None if default_s is None else round(default_s, 3),
        },
    )
    return row, local


async def _killed(
    tmp: Path, corpus: Path, files: int, reference: MultimodalRAG, engine: RayEngine
) -> BenchRow:
    plain_s, plain = await _ingest(tmp / "plain.db", corpus, engine)
    plain.close()
    killer = ExitOnceEmbedder(get_default_embedder(), tmp / "killed")
    killed_s, rag = await _ingest(tmp / "killed.db", corpus, engine, embedder=killer)
    expected = {d.relpath: d.chunks for d in reference.documents(corpus)}
    got = {d.relpath: d.chunks for d in rag.documents(corpus)}
    counts, wanted = rag.store.counts(), reference.store.counts()
    rag.close()
    return BenchRow(
        "worker killed mid-run (ray, undisturbed vs killed)",
        files,
        plain_s,
        killed_s,
        extra={
            "worker_killed": killer.fired,
            "files_lost": len(set(expected) - set(got)),
            "chunks_duplicated": max(0, counts["chunks"] - wanted["chunks"]),
            "documents_equal": got == expected,
        },
    )


async def media_row(tmp: Path, sizes: MediaSizes, latency: float, engine: RayEngine) -> BenchRow:
    """The images described on Ray with each worker's own budget, then with the budget shared through
    Redis, against one quota (``latency``: the fake provider's seconds per answer), on ``engine``."""
    corpus = tmp / "images"
    _write_images(corpus, sizes.images)
    warm = tmp / "warm-images"
    _write_images(warm, 2 * sizes.workers)
    with RedisServer() as redis:
        async with FakeLLMProcess(latency, quota_rpm=sizes.rpm, quota_burst=sizes.burst) as server:
            # start every worker (and its model) first, so both measured runs find them ready
            await describe_on_ray(
                server, warm, tmp / "warm.db", sizes, key="warm", redis_url=redis.url, engine=engine
            )
            own = await describe_on_ray(
                server, corpus, tmp / "own.db", sizes, key="own", redis_url=None, engine=engine
            )
            shared = await describe_on_ray(
                server, corpus, tmp / "shared.db", sizes, key="shared", redis_url=redis.url, engine=engine
            )
    return BenchRow(
        f"media descriptions, {sizes.workers} ray workers, one {sizes.rpm:g} RPM quota (burst "
        f"{sizes.burst:g}): each worker's own budget vs one shared through Redis",
        sizes.images,
        own.wall_s,
        shared.wall_s,
        ideal_s=max(0.0, sizes.images - sizes.burst) / sizes.rate,
        extra={
            "goal": "shared: <= 0.5% 429, >= 95% of quota used, each image described once, 0 lost",
            "own_budget": own.metrics(sizes.rate),
            "shared": shared.metrics(sizes.rate),
        },
    )


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """Every Ray measurement; ``quick`` shrinks the corpora, ``full`` grows them (``latency``: the fake
    provider's, in the media row)."""
    await asyncio.to_thread(get_default_embedder)
    files = 24 if quick else 240 if full else 96
    images = 120 if quick else 1200 if full else 600
    sizes = MediaSizes(images=images, workers=MEDIA_WORKERS)
    with tempfile.TemporaryDirectory(prefix="kagura-bench-ray-") as tmpdir:
        tmp = Path(tmpdir)
        tiny, corpus = tmp / "tiny", tmp / "corpus"
        _write_texts(tiny, 4, paragraphs=3)
        _write_texts(corpus, files, paragraphs=40)
        with RayEngine(workers=WORKERS, num_cpus=WORKERS) as engine:
            cluster_s = await asyncio.to_thread(_start_cluster, engine)
            started = time.perf_counter()
            warm = MultimodalRAG(tmp / "warm.db")
            await warm.load_directory(tiny, engine=engine)  # worker start + model load
            warm.close()
            warmup_s = time.perf_counter() - started
            cpu, reference = await _compare(
                tmp, "cpu-bound text ingest (local vs ray)", corpus, files, engine, default_threads=quick
            )
            cpu.extra |= {
                "cluster_start_s": None if cluster_s is None else round(cluster_s, 2),
                "first_ray_run_s": round(warmup_s, 2),
            }
            overhead, tiny_local = await _compare(
                tmp, "tiny corpus overhead (local vs ray)", tiny, 4, engine, default_threads=True
            )
            tiny_local.close()
            killed = await _killed(tmp, corpus, files, reference, engine)
            reference.close()
        # a cluster started above stopped with its engine: the media row restarts it with more CPUs
        with RayEngine(workers=MEDIA_WORKERS, num_cpus=MEDIA_WORKERS) as engine:
            restart_s = await asyncio.to_thread(_start_cluster, engine)
            media = await media_row(tmp, sizes, latency, engine)
        media.extra["cluster_restart_s"] = None if restart_s is None else round(restart_s, 2)
    return [cpu, overhead, killed, media]


def _print(rows: list[BenchRow]) -> None:
    for row in rows:
        times = f"serial={row.serial_s:.3f}s parallel={row.parallel_s:.3f}s"
        print(f"{row.operation}: {times} ({row.speedup:.2f}x)")
        for key, value in row.extra.items():
            print(f"    {key} = {value}")


if __name__ == "__main__":
    _print(asyncio.run(run(quick="--quick" in sys.argv)))
