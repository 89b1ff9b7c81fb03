"""The ml engine (see ops.py for its operations)."""
