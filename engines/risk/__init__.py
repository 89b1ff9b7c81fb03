"""The risk engine (see ops.py for its operations)."""
