"""Run the native ml engine."""

from native_engines.serve import main

if __name__ == "__main__":
    main("ml")
