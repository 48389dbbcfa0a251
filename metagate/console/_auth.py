"""Logging in and out, who is asking, and the checks every request passes before any view runs.

- Every request that is not GET/HEAD must carry the CSRF token of its session (the login
  form: the one-time token of its login cookie), and an ``Origin``, when the browser sends
  one, must be this console's own. A forged, missing or old token is 403 and nothing happens.
- Views declare a :class:`Permission` with :func:`needs`; without a session a page redirects
  to the login form and a POST is 403; a role without the permission is 403.
- The password check takes the same time for an unknown name as for a known one (a hash is
  checked either way), and the answer never says which of the two was wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from metagate.console._config import ConsoleConfig, User
from metagate.console._roles import Permission, allowed
from metagate.console._sessions import LoginLimiter, Session, Sessions, same_token

SESSION_COOKIE = "metagate_session"
LOGIN_COOKIE = "metagate_login"
_SAFE = ("GET", "HEAD")

F = TypeVar("F", bound=Callable[..., Any])
auth = Blueprint("auth", __name__)


class Accounts:
    def __init__(self, config: ConsoleConfig) -> None:
        from policies import hash_password

        self.config = config
        self._decoy = hash_password(secrets.token_urlsafe(16))  # checked for unknown names

    def authenticate(self, name: str, password: str) -> User | None:
        from policies import verify_password

        user = self.config.user(name)
        stored = user.password_hash if user is not None else self._decoy
        good = verify_password(password, stored)
        return user if good and user is not None else None


@dataclass
class Guard:
    accounts: Accounts
    sessions: Sessions
    limiter: LoginLimiter
    secure: bool


def guard() -> Guard:
    found: Guard = current_app.extensions["metagate.guard"]
    return found


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def current_session() -> Session:
    session: Session | None = g.get("session")
    if session is None:
        abort(403)
    return session


def needs(permission: Permission) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.method in _SAFE:
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                abort(403)
            if not allowed(user.role, permission):
                abort(403, description=f"the {user.role} role may not {permission}")
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def install(app: Flask, guard_: Guard) -> None:
    app.extensions["metagate.guard"] = guard_
    app.before_request(_identify_and_check)
    app.register_blueprint(auth)


def _identify_and_check() -> None:
    state = guard()
    session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
    user = state.accounts.config.user(session.user) if session is not None else None
    if session is not None and user is None:  # the account was removed: the session ends
        state.sessions.drop(session.id)
        session = None
    g.session, g.user = session, user
    if request.method in _SAFE:
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null" and _origin(origin) != _origin(request.host_url):
        abort(403, description="a request from another site")
    if origin == "null":
        abort(403, description="a request from an opaque origin")
    if request.endpoint == "auth.login":
        expected = request.cookies.get(LOGIN_COOKIE)
        if expected is None or not same_token(request.form.get("csrf"), expected):
            abort(403, description="the login form expired; load it again")
        return
    if session is None or not same_token(request.form.get("csrf"), session.csrf):
        abort(403, description="missing or wrong CSRF token")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _login_page(error: str | None, status: int, name: str = "", retry_after: int | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    page = render_template("login.html", csrf=token, error=error, name=name, next=_next_target())
    response = Response(page, status=status)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=guard().secure, max_age=600, path="/login"
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _next_target() -> str:
    target = request.values.get("next", "")
    # only a path of this console: never an absolute URL or //host (an open redirect)
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


@auth.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    state = guard()
    if request.method == "GET":
        return _login_page(None, 200)
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    keys = (f"user:{name.lower()}", f"addr:{request.remote_addr}")
    wait = state.limiter.retry_after(*keys)
    if wait is not None:
        return _login_page(f"Too many failed logins: try again in {wait} s.", 429, name, wait)
    user = state.accounts.authenticate(name, password) if name and password else None
    if user is None:
        state.limiter.failed(*keys)
        return _login_page("Wrong user name or password.", 401, name)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        state.sessions.drop(old)  # a fresh id at every login: no session fixation
    session = state.sessions.create(user.name)
    target = _next_target() or url_for("queue.index")
    response = redirect(target, code=303)
    response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="Strict", secure=state.secure, path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@auth.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    session = current_session()
    guard().sessions.drop(session.id)
    response = redirect(url_for("auth.login"), code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
