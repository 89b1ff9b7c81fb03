"""Run the native risk engine."""

from native_engines.serve import main

if __name__ == "__main__":
    main("risk")
