"""Start and stop the platform: infrastructure, processes, health waits."""
