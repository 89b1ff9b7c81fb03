"""Pure compute of the ML engine (numpy, arch, scikit-learn, hmmlearn, torch): no I/O."""
