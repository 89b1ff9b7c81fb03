"""The gateway process (:8001): public API, routing with fallback, health, the trading core."""
