"""CI smoke of the benchmark harness: run every benchmark at tiny sizes and check each produced its rows.

It asserts that the harness ran and reported, never how fast anything was (timing belongs to real runs of
``kagura bench``, reported in docs/en/guides/performance-optimization.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

EXPECTED = {
    "overhead",
    "llm",
    "router",
    "ingest",
    "quota",
    "shared",
    "embed",
    "corpus",
    "store",
    "structured",
    "jobs",
    "batch",
}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        command = [sys.executable, "-m", "kagura.cli", "bench", "all", "--quick", "--latency", "0.02"]
        subprocess.run([*command, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        payload = json.loads(out.read_text())
    benchmarks = payload["benchmarks"]
    problems = [f"{name}: skipped: {reason}" for name, reason in payload.get("skipped", {}).items()]
    if set(benchmarks) != EXPECTED:
        problems.append(f"benchmarks reported: {sorted(benchmarks)}, expected {sorted(EXPECTED)}")
    for name, rows in benchmarks.items():
        if not rows:
            problems.append(f"{name}: no rows")
        for row in rows:
            if not (row["serial_s"] > 0 and row["parallel_s"] > 0):
                problems.append(f"{name}: row {row['operation']!r} has no measured times")
    for problem in problems:
        print(f"bench smoke: {problem}", file=sys.stderr)
    rows = sum(len(r) for r in benchmarks.values())
    print(f"bench smoke: {len(benchmarks)} benchmarks, {rows} rows" + (" - FAILED" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
