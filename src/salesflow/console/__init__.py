"""The web console of the embedded face: see and steer the pipelines in a browser.

``create_app(settings)`` builds the FastAPI application; ``serve(settings, ...)``
runs it with uvicorn until a stop event is set. Nothing here is imported by the
pipelines; the CLI's ``salesflow run`` starts it.
"""

from __future__ import annotations

from salesflow.console.app import create_app, serve
from salesflow.runtime.settings import ConsoleSettings

__all__ = ["ConsoleSettings", "create_app", "serve"]
