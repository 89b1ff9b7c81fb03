"""The factor engine (see ops.py for its operations)."""
