"""Serving the console: one process, threads for requests, TLS when configured, demo accounts when none.

werkzeug's threaded server is enough for a SOC's handful of reviewers on one host; put a TLS
terminating proxy in front, or configure ``tls``, before anyone reaches it over a network.
With no users configured the console makes demo accounts (analyst, approver1, approver2,
auditor) with random passwords printed once at start, and only when it listens on loopback:
an empty user list never means an open console.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable

from metagate.console._app import backend_of, create_app
from metagate.console._config import ConsoleConfig, User
from metagate.console._roles import Role
from policies import ConfigError, is_loopback

DEMO_ACCOUNTS = (
    ("analyst", Role.ANALYST),
    ("approver1", Role.APPROVER),
    ("approver2", Role.APPROVER),
    ("auditor", Role.AUDITOR),
)


def with_demo_accounts(config: ConsoleConfig, host: str, say: Callable[[str], None]) -> ConsoleConfig:
    """The configuration itself when it has users; else demo accounts (loopback only), announced."""
    from policies import hash_password

    if config.users:
        return config
    if not is_loopback(host):
        raise ConfigError(
            f"no users configured and {host} is not loopback: list users with password hashes "
            "(metagate hash-password) in the console configuration",
            field="users",
        )
    users = []
    say("no users configured: demo accounts for this run only (loopback), passwords not stored anywhere:")
    for name, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        users.append(User(name=name, role=role, password_hash=hash_password(password)))
        say(f"  {name:<10} {role.value:<9} {password}")
    return config.model_copy(update={"users": tuple(users)})


def tls_context(config: ConsoleConfig) -> ssl.SSLContext | None:
    if config.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key = config.path(config.tls.cert), config.path(config.tls.key)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} and key {key}: {exc}", field="tls") from exc
    return context


def serve(config: ConsoleConfig, host: str, port: int, say: Callable[[str], None]) -> None:
    from werkzeug.serving import make_server

    config = with_demo_accounts(config, host, say)
    context = tls_context(config)
    app = create_app(config)
    backend = backend_of(app)
    backend.check()
    try:
        server = make_server(host, port, app, threaded=True, ssl_context=context)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}", field="port") from exc
    scheme = "https" if context is not None else "http"
    where = f"{scheme}://{host}:{server.server_port}/"
    say(f"console on {where} (queue {backend.queue_path}, ledger {backend.place.ledger})")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        backend.sharing.stop()
