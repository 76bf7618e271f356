"""Core layers: the scheduler, the LLM layer and memory."""
