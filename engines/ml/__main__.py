"""Run the ml engine's HTTP service."""

from backend.service.run import run_engine

if __name__ == "__main__":
    run_engine("ml")
