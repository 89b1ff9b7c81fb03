"""The marketdata engine (see ops.py for its operations)."""
