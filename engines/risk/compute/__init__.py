"""Pure risk compute (numpy/scipy/torch only; no I/O), one module per area."""
