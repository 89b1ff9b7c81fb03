"""Run the native strategy engine."""

from native_engines.serve import main

if __name__ == "__main__":
    main("strategy")
