"""The analyst console: the outbound review queue, the audit ledger and a dashboard in a browser.

::

    browser ──login (rate-limited)──> session (server side, HttpOnly SameSite=Strict cookie)
        ──CSRF-checked POST──> role check ──> exchange.Queue (two-person rule) ──> outbox
        ──share worker──> partner's TAXII collection

docs/console.md tells the whole story: roles, configuration, what publishes and when.
"""

from metagate.console._app import create_app
from metagate.console._config import ConsoleConfig, User, console_config, load_console_config
from metagate.console._roles import PERMISSIONS, Permission, Role
from metagate.console._serve import serve

__all__ = [
    "ConsoleConfig",
    "PERMISSIONS",
    "Permission",
    "Role",
    "User",
    "console_config",
    "create_app",
    "load_console_config",
    "serve",
]
