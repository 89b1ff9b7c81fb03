"""The portfolio engine (see ops.py for its operations)."""
