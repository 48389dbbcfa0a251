"""The ``server:`` section of the exchange configuration: our own TAXII 2.1 server for the partner.

::

    server:
      listen: 127.0.0.1                 # the default; another address only on purpose
      port: 9443
      tls: {cert: taxii.crt, key: taxii.key}   # optional; paths relative to this file
      api_root: api1
      max_content_length: 10485760      # the largest POST body taken, in bytes
      page_size: 100                    # objects a page when the client names no limit
      max_page_size: 1000               # a larger limit is lowered to this
      collections:
        - id: 3f0a9c4e-2b1d-4c55-9e1a-6d7b8c9d0e1f
          title: Indicators from Example Carrier SOC
          serves: published             # the published objects of the partner's outbound queue
        - id: 7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f
          title: Sightings to Example Carrier SOC
          serves: inbound               # the partner posts here; kept in the inbound store
      accounts:
        - user: us-partner
          password_hash: scrypt$16384$8$1$...   # metagate hash-password; never the password
          read: [3f0a9c4e-2b1d-4c55-9e1a-6d7b8c9d0e1f]
          write: [7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f]

A collection and an account belong to a partner (``partner:``, by default the
configuration's own). What is wrong is refused when the file is loaded, fail closed: an
account reading or writing a collection that is not there or belongs to another partner,
reading an inbound collection or writing a published one, two accounts of one name, a
password where its hash belongs (with the file and field), plain HTTP on an address other
than loopback (passwords and TLP:AMBER objects would cross the network in clear).
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from policies import check_password_hash, is_loopback

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f"a collection id is a UUID (RFC 4122), not {text!r}") from None


def _segment(text: str) -> str:
    if not _SEGMENT.match(text):
        raise ValueError(f"an API root is one URL path segment of letters, digits, _ and -, not {text!r}")
    return text


def _user(text: str) -> str:
    if ":" in text or not text.isprintable() or text.strip() != text:
        raise ValueError(f"{text!r} cannot be an HTTP Basic user name (no ':', no spaces around it)")
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Serves(StrEnum):
    PUBLISHED = "published"  # the partner reads what was approved and published for it
    INBOUND = "inbound"  # the partner writes: sightings and its own objects, validated and kept


class TlsFiles(_Strict):
    cert: str = Field(min_length=1)
    key: str = Field(min_length=1)


class ServerCollection(_Strict):
    id: Annotated[str, AfterValidator(_uuid)]
    title: str = Field(min_length=1, max_length=256)
    description: str | None = None
    alias: str | None = None
    partner: str | None = None
    serves: Serves


class ServerAccount(_Strict):
    user: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_user)]
    password_hash: str = Field(min_length=1)
    partner: str | None = None
    read: tuple[Annotated[str, AfterValidator(_uuid)], ...] = ()
    write: tuple[Annotated[str, AfterValidator(_uuid)], ...] = ()


class ServerSettings(_Strict):
    """Our TAXII 2.1 server: where it listens, its collections, who may read and write which."""

    listen: str = "127.0.0.1"
    port: int = Field(9443, ge=1, le=65535)
    tls: TlsFiles | None = None
    title: str = "metagate TAXII 2.1 server"
    description: str | None = None
    contact: str | None = None
    api_root: Annotated[str, AfterValidator(_segment)] = "api1"
    max_content_length: int = Field(10 * 1024 * 1024, ge=1024, le=1024**3)
    page_size: int = Field(100, ge=1, le=100_000)
    max_page_size: int = Field(1000, ge=1, le=100_000)
    collections: tuple[ServerCollection, ...] = Field(min_length=1)
    accounts: tuple[ServerAccount, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.page_size > self.max_page_size:
            raise ValueError(f"page_size {self.page_size} is above max_page_size {self.max_page_size}")
        ids = [c.id for c in self.collections]
        if len(set(ids)) != len(ids):
            raise ValueError("two collections have the same id")
        if self.tls is None and not is_loopback(self.listen):
            raise ValueError(
                f"plain HTTP is for loopback only: listening on {self.listen} needs server.tls (a certificate and key)"
            )
        users = [a.user for a in self.accounts]
        if len(set(users)) != len(users):
            raise ValueError("two accounts have the same user name")
        return self

    def check(self, partner: str, where: str) -> None:
        """What needs the configuration's partner and file: ConfigError naming the file and field."""
        from policies import ConfigError

        by_id = {c.id: c for c in self.collections}
        for account in self.accounts:
            field = f"server.accounts.{account.user}"
            check_password_hash(account.password_hash, f"{where}: {field}.password_hash")
            owner = account.partner or partner
            for mode, ids, wanted in (
                ("read", account.read, Serves.PUBLISHED),
                ("write", account.write, Serves.INBOUND),
            ):
                for ident in ids:
                    collection = by_id.get(ident)
                    if collection is None:
                        raise ConfigError(
                            f"no collection {ident} in server.collections (in {where})", field=f"{field}.{mode}"
                        )
                    if (collection.partner or partner) != owner:
                        raise ConfigError(
                            f"collection {ident} is partner {collection.partner or partner}'s, "
                            f"the account is partner {owner}'s (in {where})",
                            field=f"{field}.{mode}",
                        )
                    if collection.serves is not wanted:
                        verb = "read" if mode == "read" else "written"
                        raise ConfigError(
                            f"collection {ident} serves {collection.serves.value}: it cannot be {verb} "
                            f"(published collections are read, inbound ones written; in {where})",
                            field=f"{field}.{mode}",
                        )
