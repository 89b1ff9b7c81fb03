"""The features engine (see ops.py for its operations)."""
