"""The console's Flask application: pages, guards and the headers every answer carries.

Nothing on a page comes from elsewhere: the stylesheet is ours, charts are inline SVG, there
is no script at all, and the Content-Security-Policy says so to the browser (no external
source, no inline script, no framing). Pages carrying data are ``no-store``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from metagate.console._auth import Accounts, Guard, current_user, install
from metagate.console._backend import Backend, TransportFactory
from metagate.console._config import ConsoleConfig
from metagate.console._roles import Permission, allowed
from metagate.console._sessions import LoginLimiter, Sessions
from policies import MetagateError

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
MAX_FORM_BYTES = 64 * 1024


def create_app(config: ConsoleConfig, *, transport: TransportFactory | None = None) -> Flask:
    """The console for one configuration; ``transport`` replaces the TAXII client (tests)."""
    from metagate.console._audit_view import audit_pages
    from metagate.console._dashboard import dashboard_pages
    from metagate.console._queue_views import queue_pages

    app = Flask("metagate.console", static_folder="static", template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_FORM_BYTES
    backend = Backend(config, transport)
    app.extensions["metagate.backend"] = backend
    guard = Guard(
        Accounts(config),
        Sessions(config.session.idle_minutes * 60, config.session.max_hours * 3600),
        LoginLimiter(config.login_limit.attempts, config.login_limit.window_seconds),
        secure=config.tls is not None,
    )
    install(app, guard)
    app.register_blueprint(queue_pages)
    app.register_blueprint(audit_pages)
    app.register_blueprint(dashboard_pages)

    @app.context_processor
    def _who() -> dict[str, Any]:
        user = current_user()
        return {"user": user, "may": lambda p: user is not None and allowed(user.role, Permission(p))}

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"  # no-referrer would make browsers send "Origin: null"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if config.tls is not None:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if not response.headers.get("Content-Type", "").startswith("text/css"):
            headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def _error(exc: HTTPException) -> BaseResponse:
        response = exc.get_response()  # keeps what the status needs, e.g. Allow on a 405
        page = render_template("error.html", code=exc.code, name=exc.name, description=exc.description)
        response.set_data(page)
        response.content_type = "text/html; charset=utf-8"
        return response

    @app.errorhandler(MetagateError)
    def _unavailable(exc: MetagateError) -> tuple[str, int]:
        # a file the console stands on is missing or damaged: say which, change nothing
        return render_template("error.html", code=503, name="Unavailable", description=str(exc)), 503

    return app


def backend_of(app: Flask) -> Backend:
    found: Backend = app.extensions["metagate.backend"]
    return found
