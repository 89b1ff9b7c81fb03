"""The model registry: versions in PostgreSQL (``store``), artifacts on disk with their hashes (``artifacts``)."""
