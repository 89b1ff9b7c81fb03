"""Request and response models of the risk engine, one module per area."""
