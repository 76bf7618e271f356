"""Resume of a big job: seconds from ``kagura run``'s process start to the fake server's first new request.

Issue 23's goal: a 1,000,000-line job with 999,000 items done resumes with its first new request within
10 s. Each checkout (``--src DIR``, its ``src`` folder; several side by side in one run) builds its own
ledger from the same input with its own code (untimed: register every line, then mark the first
``--done`` items done with a realistic output line), then runs the same ``kagura run`` command on a fresh
copy of it, ``--repeats`` times, alternating checkouts. Printed per run: the seconds to the first request
(polled from the fake server's counters every 10 ms), the process's CPU seconds and peak RSS at that
moment, and the whole run's wall.

    git worktree add --detach /tmp/old-resume main
    python scripts/resume_first_request.py --src /tmp/old-resume/src --src src [--lines 1000000 --done 999000]

``--budget-usd X`` runs the resume under a dollar cap (prices for the fake model given in a ``--prices``
file): the price check before the job then looks at every model the input names.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_S = 10.0

_BUILD = """
import sys
from pathlib import Path
from kagura.jobs._ledgers import open_ledger
from kagura.jobs._prepare import prepare_file
requests, ledger_path, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
ledger = open_ledger(ledger_path, name)
try:
    prepare_file(ledger, requests, "fake")
finally:
    ledger.close()
"""

_RESULT = (
    """'{"id":"batch_req_' || custom_id || '","custom_id":"' || custom_id || '","""
    """"response":{"status_code":200,"""
    """"request_id":"req_' || custom_id || '","body":{"id":"chatcmpl-1","object":"chat.completion","""
    """"model":"fake","choices":[{"index":0,"message":{"role":"assistant","content":"label"},"""
    """"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}},"""
    """"error":null}'"""
)


def _requests(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"custom_id": f"q{i}", "prompt": f"label item {i}"}) + "\n")


def _env(src: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(src).resolve())}


def _build(src: str, requests: Path, ledger: Path, name: str, done: int) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-c", _BUILD, str(requests), str(ledger), name]
    subprocess.run(command, env=_env(src), check=True)
    with contextlib.closing(sqlite3.connect(ledger)) as conn, conn:  # closed: the WAL is checkpointed
        conn.execute(
            f"UPDATE job_items SET state = 'done', attempts = 1, prompt_tokens = 9, completion_tokens = 1,"
            f" result = {_RESULT} WHERE job = ? AND line <= ?",
            (name, done),
        )
    return time.perf_counter() - started


def _cpu_and_rss(pid: int) -> tuple[float, float]:
    import psutil

    proc = psutil.Process(pid)
    times = proc.cpu_times()
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        hwm = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM"))
    return times.user + times.system, hwm / 1024


def _fresh_copy(built: Path, out: Path) -> None:
    ledger = Path(str(out) + ".ledger.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(ledger) + suffix).unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    shutil.copyfile(built, ledger)


async def _one(
    src: str, requests: Path, out: Path, base_url: str, stats_url: str, extra: list[str]
) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def chat() -> int:
            async with session.get(stats_url) as response:
                return int((await response.json())["chat_requests"])

        before = await chat()
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kagura.cli", "run", str(requests), "--out", str(out),
            "--base-url", base_url, "--model", "fake", "--api-key", "resume",
            "--max-concurrent", "64", "--json", *extra,
            env=_env(src), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        first = cpu = rss = None
        while proc.returncode is None:
            if await chat() > before:
                first = time.perf_counter() - started
                cpu, rss = _cpu_and_rss(proc.pid)
                break
            await asyncio.sleep(0.01)
        stdout, stderr = await proc.communicate()
        wall = time.perf_counter() - started
    summary = json.loads(stdout.decode().strip().splitlines()[-1]) if stdout.strip() else {}
    if proc.returncode != 0:
        print(stderr.decode()[-2000:], file=sys.stderr)
    return {
        "first_request_s": None if first is None else round(first, 2),
        "cpu_s_to_first": None if cpu is None else round(cpu, 2),
        "peak_rss_mb_at_first": None if rss is None else round(rss, 1),
        "wall_s": round(wall, 2),
        "exit": proc.returncode,
        "requests": summary.get("requests"),
        "done": summary.get("done"),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--src", action="append", required=True, help="a checkout's src folder (repeat)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--done", type=int, default=999_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget-usd", type=float, default=None, help="run the resume under this dollar cap")
    options = parser.parse_args()
    from kagura.testing import FakeLLMProcess

    with tempfile.TemporaryDirectory(prefix="resume-bench-") as name:
        tmp = Path(name)
        requests = tmp / "requests.jsonl"
        _requests(requests, options.lines)
        out = tmp / "out.jsonl"
        extra: list[str] = []
        if options.budget_usd is not None:
            prices = tmp / "prices.json"
            prices.write_text(json.dumps({"fake": {"input": 0.01, "output": 0.01}}), encoding="utf-8")
            extra = ["--budget-usd", str(options.budget_usd), "--prices", str(prices)]
        built: dict[str, Path] = {}
        for index, src in enumerate(options.src):
            built[src] = tmp / f"ledger-{index}.db"
            seconds = _build(src, requests, built[src], out.name, options.done)
            print(json.dumps({"src": src, "ledger_built_s": round(seconds, 1)}), flush=True)
        load = os.getloadavg()[0]
        async with FakeLLMProcess(0.0) as server:
            stats_url = server.base_url.removesuffix("/v1") + "/_kagura/stats"
            for repeat in range(options.repeats):
                for src in options.src:
                    _fresh_copy(built[src], out)
                    figures = await _one(src, requests, out, server.base_url, stats_url, extra)
                    print(json.dumps({"src": src, "repeat": repeat, "load_1m": round(os.getloadavg()[0], 1),
                                      **figures, "goal_s": GOAL_S,
                                      "met": figures["first_request_s"] is not None
                                      and figures["first_request_s"] <= GOAL_S}), flush=True)  # fmt: skip
        print(json.dumps({"lines": options.lines, "done": options.done, "budget_usd": options.budget_usd,
                          "load_1m_at_start": round(load, 1)}))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
