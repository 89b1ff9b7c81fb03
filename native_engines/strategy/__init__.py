"""Native strategy engine: serves the strategy engine's GPU-capable operations on <run_dir>/strategy.sock."""
