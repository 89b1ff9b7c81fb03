"""The strategy engine (see ops.py for its operations)."""
