"""The analytics engine (see ops.py for its operations)."""
