"""Shared core: settings, errors, logging, metrics. Imports nothing project-side."""
