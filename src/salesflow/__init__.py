"""salesflow: an event-driven pipeline for sales data."""

__version__ = "0.1.0"
