"""The console's configuration: who may log in with which role, where the queue and the ledger are.

Configuration is data: a pydantic model loaded from YAML, unknown keys are errors, passwords
only as hashes (``metagate hash-password``); a clear password is refused naming the file and
the field. Every path is relative to the configuration file; a field left out takes the same
embedded default as the command line (``metagate-exchange.sqlite``, ``metagate-ledger.sqlite``
and their environment variables), so ``metagate console`` with no file at all works on a
demo directory::

    queue: metagate-exchange.sqlite
    exchange: metagate-exchange.yaml      # how to reach the partner; without it nothing is shared
    ledger: metagate-ledger.sqlite
    ledger_key: metagate-ledger.key       # its .pub is the key the audit view verifies with
    share_on_approval: true               # the last approval sends the item at once
    login_limit: {attempts: 5, window_seconds: 60}
    session: {idle_minutes: 30, max_hours: 12}
    tls: {cert: console.crt, key: console.key}
    users:
      - {name: alice, role: approver, password_hash: "scrypt$16384$8$1$..."}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from metagate.console._roles import Role
from policies import ConfigError, check_password_hash

DEFAULT_CONFIG = "metagate-console.yaml"

UserName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class User(_Strict):
    """One person: the name the ledger records, one role, the hash of the password."""

    name: UserName
    role: Role
    password_hash: str = Field(min_length=1)


class LoginLimit(_Strict):
    """Failed logins allowed per user name and per client address within the window."""

    attempts: Annotated[int, Field(ge=1, le=1000)] = 5
    window_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0


class SessionLimits(_Strict):
    idle_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 30.0
    max_hours: Annotated[float, Field(gt=0, le=7 * 24)] = 12.0


class Tls(_Strict):
    cert: str = Field(min_length=1)
    key: str = Field(min_length=1)


class ConsoleConfig(_Strict):
    queue: str | None = None
    exchange: str | None = None
    ledger: str | None = None
    ledger_key: str | None = None
    share_on_approval: bool = True
    login_limit: LoginLimit = LoginLimit()
    session: SessionLimits = SessionLimits()
    tls: Tls | None = None
    users: tuple[User, ...] = ()
    source: str | None = Field(None, exclude=True)

    def path(self, value: str | None) -> Path | None:
        """A configured path, relative to the configuration file; None when not configured."""
        if value is None:
            return None
        path = Path(value)
        if path.is_absolute() or self.source is None:
            return path
        return Path(self.source).parent / path

    def user(self, name: str) -> User | None:
        return next((u for u in self.users if u.name == name), None)


def load_console_config(path: str | Path) -> ConsoleConfig:
    """A console configuration file; ConfigError naming the file and field when it is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the console configuration: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a console configuration is a mapping of fields")
    return console_config(data, str(path))


def console_config(data: dict[str, object], source: str | None = None) -> ConsoleConfig:
    """A configuration from parsed data (the file's, or a test's); hashes and user names checked."""
    where = source or "console configuration"
    try:
        config = ConsoleConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        dotted = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field {first['loc'][-1]!r} (a misspelling? unknown fields are errors)"
        raise ConfigError(f"{message} (in {where})", field=dotted or None) from exc
    seen: set[str] = set()
    for n, user in enumerate(config.users):
        check_password_hash(user.password_hash, f"{where}: users.{n}.password_hash ({user.name})")
        if user.name in seen:
            raise ConfigError(f"{where}: user {user.name} is listed twice", field=f"users.{n}.name")
        if user.name == "auto-approve":
            raise ConfigError(f"{where}: the name auto-approve is reserved", field=f"users.{n}.name")
        seen.add(user.name)
    return config
