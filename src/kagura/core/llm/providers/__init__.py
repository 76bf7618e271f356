"""Providers: one class per API (OpenAI-compatible, Gemini, Anthropic), their registry, the translation of
their errors into ``kagura.errors`` and the parsing of their rate-limit headers. Public names are
re-exported by :mod:`kagura.core.llm`."""
