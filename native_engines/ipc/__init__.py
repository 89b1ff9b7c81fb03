"""The native IPC: frames, shared-memory pool, UDS server and client."""
