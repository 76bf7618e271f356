"""Memory-aware agent routing.

``AgentRouter`` picks a registered agent for a query (strategies ``intent``, ``semantic``, ``llm``);
``ContextAnalyzer`` decides whether a query is a follow-up and rewrites it; ``MemoryAwareRouter`` combines
them with the speculative protocol (analysis and a preliminary routing run concurrently, the decision is
always the serial one's, agents run exactly once); ``ConversationMemory`` (from ``kagura.core.memory``)
keeps the turns the analyzer reads.
"""

from kagura.core.memory.conversation import Turn
from kagura.routing._context import ContextAnalyzer
from kagura.routing._memory_router import MemoryAwareRouter
from kagura.routing._router import AgentRouter
from kagura.routing._types import QueryContext, RoutingDecision

# isort: split
# Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
from kagura.core.memory.conversation import ConversationMemory  # noqa: F401  (public in kagura.core.memory)
from kagura.routing._cues import might_need_context  # noqa: F401
from kagura.routing._router import STRATEGIES  # noqa: F401
from kagura.routing._types import AgentSpec  # noqa: F401

__all__ = [
    "AgentRouter",
    "ContextAnalyzer",
    "MemoryAwareRouter",
    "QueryContext",
    "RoutingDecision",
    "Turn",
]
