"""engine="ray" on a two-node cluster (a head and a worker node on loopback, ``ray.cluster_utils``).

Run in a child process: a process joins one Ray cluster at a time, and the session's single-node cluster
(``ray_cluster``) may already be connected here. Both nodes run batches (each has one CPU and two batches
run at once), and the result equals the local engine's.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _rag_support import write

import kagura
from kagura.core.memory import MultimodalRAG

pytest.importorskip("ray")

_CHILD = """
import asyncio, json, sys
from ray.cluster_utils import Cluster
import ray
from kagura.core.memory import MultimodalRAG

corpus, store = sys.argv[1], sys.argv[2]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
cluster.wait_for_nodes()
nodes = sum(1 for n in ray.nodes() if n["Alive"])
rag = MultimodalRAG(store)
asyncio.run(rag.load_directory(corpus, engine="ray"))
report = rag.last_report.as_dict()
report.pop("timings")
rag.close()
print(json.dumps({"nodes": nodes, "report": report}))
ray.shutdown()
cluster.shutdown()
"""


def test_two_nodes_index_what_the_local_engine_indexes(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    for i in range(10):
        write(corpus / f"f{i}.md", f"# Note {i}\n\n" + f"words about subject {i} " * 30)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7 broken")
    local = MultimodalRAG(tmp_path / "local.db")
    asyncio.run(local.load_directory(corpus))
    expected = local.last_report
    assert expected is not None
    env = dict(os.environ)
    src = str(Path(kagura.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(corpus), str(tmp_path / "ray.db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["nodes"] == 2
    report = result["report"]
    assert sorted(report["indexed"]) == sorted(expected.indexed)
    assert [f["path"] for f in report["failed"]] == [f.path for f in expected.failed]
    assert report["chunks_added"] == expected.chunks_added
    ray_store = MultimodalRAG(tmp_path / "ray.db")
    assert ray_store.store.counts() == local.store.counts()
    assert sorted((d.relpath, d.chunks) for d in ray_store.documents(corpus)) == sorted(
        (d.relpath, d.chunks) for d in local.documents(corpus)
    )
    ray_store.close()
    local.close()
