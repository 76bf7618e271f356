"""Admission control of an :class:`~kagura.core.llm.LLMClient`: the adaptive controller (quota learned from
headers and outcomes, alone or shared through Redis), its concurrency gate, the notices it gives, and the
dollar cap. Public names are re-exported by :mod:`kagura.core.llm`."""
