"""Where the audit ledger and its signing key are, and how a command records into it.

Embedded defaults: ``metagate-ledger.sqlite`` in the working directory, its signing key
beside it as ``metagate-ledger.key`` (private, mode 0600) and ``metagate-ledger.key.pub``.
``METAGATE_LEDGER`` and ``METAGATE_LEDGER_KEY`` or the ``--ledger`` / ``--ledger-key``
options move them. The key is created only by ``metagate audit init``, never on the fly: a
ledger whose key appeared from nowhere would prove nothing.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from policies import PolicyError

if TYPE_CHECKING:
    from policies import Ledger

DEFAULT_LEDGER = "metagate-ledger.sqlite"


@dataclass(frozen=True)
class LedgerPlace:
    ledger: Path
    key: Path

    @classmethod
    def resolve(cls, ledger: Path | None, key: Path | None) -> LedgerPlace:
        where = ledger or Path(os.environ.get("METAGATE_LEDGER", DEFAULT_LEDGER))
        signing = key or Path(os.environ.get("METAGATE_LEDGER_KEY", str(where.with_suffix(".key"))))
        return cls(where, signing)

    @property
    def public_key(self) -> Path:
        return self.key.with_name(self.key.name + ".pub")

    def open(self) -> Ledger:
        """The ledger, ready to append; an error naming the key when it was never initialised."""
        from policies import Ledger, load_signing_key

        if not self.key.exists():
            raise PolicyError(f"no ledger signing key at {self.key}: run `metagate audit init` first", path=self.key)
        return Ledger(self.ledger, load_signing_key(self.key))

    def init(self) -> str:
        """A new signing key (refuses to replace one) and the ledger's first entry; the key id."""
        from policies import Ledger, public_key_id, write_public_key, write_signing_key

        self.key.parent.mkdir(parents=True, exist_ok=True)
        signer = write_signing_key(self.key)
        public = signer.public_key()
        write_public_key(self.public_key, public)
        key_id = public_key_id(public)
        with Ledger(self.ledger, signer) as ledger:
            ledger.append("ledger.init", actor(), {"key_id": key_id, "key_file": str(self.key)})
        return key_id


def actor() -> str:
    """Who runs this command, as the ledger names them."""
    return os.environ.get("METAGATE_ACTOR") or getpass.getuser()


def record(place: LedgerPlace, kind: str, payload: dict[str, Any]) -> int:
    """Append one entry; its sequence number."""
    with place.open() as ledger:
        return ledger.append(kind, actor(), payload).seq


LedgerOption = Annotated[
    Path | None, typer.Option("--ledger", help=f"audit ledger (default: $METAGATE_LEDGER or {DEFAULT_LEDGER})")
]
LedgerKeyOption = Annotated[
    Path | None, typer.Option("--ledger-key", help="ledger signing key (default: $METAGATE_LEDGER_KEY or LEDGER.key)")
]
