"""Durable LLM jobs: a file or stream of requests run against an endpoint, every item in a ledger.

::

    from kagura.core.llm import LLMClient, LLMConfig
    from kagura.jobs import Job

    async with LLMClient(LLMConfig(base_url="http://127.0.0.1:8000/v1", model="m")) as client:
        report = await Job("requests.jsonl", ledger="results.ledger.db", client=client,
                           out="results.jsonl").run()

Input lines are the OpenAI Batch format or a short form (``{"custom_id", "prompt"}``); the output is the
Batch output format, one line per ``custom_id``. The ledger (SQLite file, or a ``postgresql://`` URL)
makes a run resumable after any crash without paying twice, and lets several processes share one job.
``kagura run`` is the command line over this.
"""

from __future__ import annotations

from kagura.jobs._batch_run import BatchVia
from kagura.jobs._input import JobRequest
from kagura.jobs._job import Job
from kagura.jobs._report import JobReport

# isort: split
# Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
from kagura.core.llm.control import RedisSpendCap, SpendCap  # noqa: F401
from kagura.jobs._deadline import parse_duration  # noqa: F401
from kagura.jobs._describe_batch import DescribedAhead, describe_ahead  # noqa: F401
from kagura.jobs._input import Problem, parse_request, scan  # noqa: F401
from kagura.jobs._job import write_output  # noqa: F401
from kagura.jobs._ledger import Counts, SqlLedger  # noqa: F401
from kagura.jobs._ledgers import open_ledger  # noqa: F401
from kagura.jobs._report import JobResult  # noqa: F401
from kagura.jobs._schema import JobSchema  # noqa: F401

__all__ = [
    "BatchVia",
    "Job",
    "JobReport",
    "JobRequest",
]
