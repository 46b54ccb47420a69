"""The console's FastAPI application and the server that runs it."""

from __future__ import annotations

import ipaddress
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from salesflow.console import (
    routes_auth,
    routes_batches,
    routes_dead_letters,
    routes_executions,
    routes_lake,
    routes_overview,
    routes_upload,
)
from salesflow.console.metrics import metrics_registry
from salesflow.console.queries import ConsoleQueries
from salesflow.console.security import Guard, SecurityHeaders, load_or_create_token
from salesflow.console.state import ConsoleState, Refreshing, StreamProbe
from salesflow.console.web import render, wants_json
from salesflow.domain.errors import NotFound, PermanentError, SalesflowError, TransientError
from salesflow.jsoncodec import to_json
from salesflow.runtime.bootstrap import App, build_app
from salesflow.runtime.settings import ConsoleSettings, Settings

log = logging.getLogger(__name__)
ROUTES = (
    routes_overview,
    routes_executions,
    routes_dead_letters,
    routes_batches,
    routes_lake,
    routes_upload,
    routes_auth,
)
HERE = Path(__file__).parent


def create_app(settings: Settings, console: ConsoleSettings | None = None, app: App | None = None) -> FastAPI:
    """The console of settings.home. It opens an App of its own unless one is handed in
    (then the caller closes it). The token is made or read here (DIR/console.token)."""
    console = console or settings.console
    owned = app is None
    opened = app if app is not None else build_app(settings)
    from salesflow.runtime.stream import build_stream

    state = ConsoleState(
        app=opened,
        console=console,
        guard=Guard(load_or_create_token(settings.home)),
        queries=ConsoleQueries(settings.database),
        stream=StreamProbe(lambda: build_stream(settings)),
        owns_app=owned,
    )
    state.overview = Refreshing(lambda: routes_overview.snapshot(state), every=1.0)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    web = FastAPI(title="salesflow console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    web.state.console = state
    web.state.templates = _templates(state)
    web.state.metrics = metrics_registry(state)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in ROUTES:
        web.include_router(module.router)
    _error_pages(web)
    web.add_middleware(SecurityHeaders)
    return web


def _templates(state: ConsoleState) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),  # every template, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["compact_json"] = to_json  # records hold Decimals, which the built-in tojson cannot write

    def session(request: Request) -> dict[str, Any]:
        return {"csrf": state.guard.csrf_for(request), "poll_ms": int(state.console.poll_seconds * 1000)}

    return Jinja2Templates(env=env, context_processors=[session])


def _error_pages(web: FastAPI) -> None:
    """Errors as JSON for API clients and as a page for people, each with what to do."""

    def reply(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return render(request, "error.html", {"status": status, "message": message}, status_code=status)

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return reply(request, exc.status_code, str(exc.detail))

    @web.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('body', 'query', 'path', 'form'))}: {e['msg']}"
            for e in exc.errors()
        )
        return reply(request, 422, f"bad input: {problems}")

    @web.exception_handler(SalesflowError)
    async def salesflow_error(request: Request, exc: SalesflowError) -> Response:
        if isinstance(exc, NotFound):
            status = 404
        elif isinstance(exc, TransientError):
            status = 503
        elif isinstance(exc, PermanentError):
            status = 409
        else:
            status = 500
        return reply(request, status, str(exc))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; anything else reaches other machines."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8765,
    stop: threading.Event | None = None,
    console: ConsoleSettings | None = None,
    app: App | None = None,
) -> None:
    """Serve the console in the calling thread until stop is set (or uvicorn is told to quit)."""
    import uvicorn

    if not is_loopback(host):
        warning = (
            f"the console listens on {host}:{port}, reachable from other machines: reading needs no token, "
            "and the token travels in clear over HTTP; bind to 127.0.0.1 unless a trusted proxy fronts it"
        )
        log.warning(warning)
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    web = create_app(settings, console, app)
    config = uvicorn.Config(web, host=host, port=port, log_level="warning", lifespan="on", access_log=False)
    server = _server_class()(config)
    stop = stop or threading.Event()

    def watch_stop() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=watch_stop, name="console-stop", daemon=True).start()
    token_file = settings.home / "console.token"
    log.info("console on http://%s:%s/ (token in %s)", host, port, token_file)
    server.run()


def _server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """A uvicorn server that leaves signals to the caller: `salesflow run` handles
        Ctrl-C and sets the stop event, which ends the server."""

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer
