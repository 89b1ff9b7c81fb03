"""Engine services: one package per engine, each declaring its operations in ops.py."""
