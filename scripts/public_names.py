"""Print kagura's public names (each package's ``__all__``) with their counts per package and in total.

    python scripts/public_names.py            # the count table
    python scripts/public_names.py --names    # and the names themselves

The packages are the ones a user imports from; ``tests/test_public_names.py`` keeps the total at most
:data:`LIMIT` (issue 21: cut the public surface to what users need).
"""

from __future__ import annotations

import importlib
import sys

PACKAGES = (
    "kagura",
    "kagura.errors",
    "kagura.core.parallel",
    "kagura.core.llm",
    "kagura.core.llm.batches",
    "kagura.core.memory",
    "kagura.core.memory.embedders",
    "kagura.core.memory.stores",
    "kagura.loaders",
    "kagura.routing",
    "kagura.testing",
    "kagura.jobs",
)
LIMIT = 90


def public_names() -> dict[str, list[str]]:
    """``package -> its __all__`` for every package in :data:`PACKAGES`."""
    return {name: list(importlib.import_module(name).__all__) for name in PACKAGES}


def main(argv: list[str]) -> int:
    names = public_names()
    width = max(map(len, names))
    for package, listed in names.items():
        shown = f"  {' '.join(listed)}" if "--names" in argv else ""
        print(f"{package:<{width}}  {len(listed):>3}{shown}")
    total = sum(map(len, names.values()))
    print(f"{'total':<{width}}  {total:>3}  (limit {LIMIT})")
    return 0 if total <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
