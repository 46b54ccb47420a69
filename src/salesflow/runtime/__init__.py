"""Wiring, settings, the event router and the watcher. Only this layer reads settings."""
