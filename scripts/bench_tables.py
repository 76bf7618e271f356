"""Turn `kagura bench ... --out FILE` JSON into the markdown tables of the performance guide.

    python scripts/bench_tables.py docs/en/guides/bench-results.json

Every number in the guide's tables comes from such a file, so the tables can be regenerated, not retyped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def table(rows: list[dict]) -> str:
    lines = [
        "| operation | items | serial | parallel | improvement | ideal | ratio to ideal |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r["ratio_to_ideal"]
        lines.append(
            f"| {r['operation']} | {r['items']:,} | {_s(r['serial_s'])} | {_s(r['parallel_s'])} | "
            f"{r['improvement']:.0%} ({r['speedup']:.1f}x) | {_s(r['ideal_s'])} | "
            f"{'-' if ratio is None else f'{ratio:.0%}'} |"
        )
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    for path in paths:
        data = json.loads(Path(path).read_text())
        env = data["environment"]
        print(f"<!-- {path}: latency {data['latency_s']} s, quick={data['quick']}, {env} -->")
        for name, rows in data["benchmarks"].items():
            print(f"\n**{name}**\n\n{table(rows)}\n")
            for r in rows:
                extra = ", ".join(
                    f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["extra"].items()
                )
                print(f"<!-- {r['operation']}: {extra} -->")


if __name__ == "__main__":
    main(sys.argv[1:])
