"""Native ml engine: serves the ml engine's GPU-capable operations on <run_dir>/ml.sock."""
