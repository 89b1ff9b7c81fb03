"""The websocket engine (see ops.py for its operations)."""
