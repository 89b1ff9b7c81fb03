"""Request and response models of the ML engine's operations."""
