"""Nautilus hybrid trading platform: shared libraries and the gateway process."""
