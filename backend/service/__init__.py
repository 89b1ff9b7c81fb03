"""The generic HTTP service: turns an engine's declared operations into a FastAPI app."""
