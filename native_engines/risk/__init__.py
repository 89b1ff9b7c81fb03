"""Native risk engine: serves the risk engine's GPU-capable operations on <run_dir>/risk.sock."""
