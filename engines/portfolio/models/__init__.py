"""Request and response models of the portfolio engine."""
