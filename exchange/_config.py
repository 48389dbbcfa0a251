"""The exchange's configuration: who we are, which partner, where its TAXII server is, how hard to try.

Configuration is data: a pydantic model loaded from YAML, unknown keys are errors. What may
be shared is not here but in the policy's partner agreement (policies.PartnerAgreement); this
file says how to reach the partner and how we present ourselves::

    partner: us-partner                 # an agreement of that name must be in the policy
    producer: {name: Example Carrier SOC}
    tlp: amber                          # the marking of our own objects (at most the ceiling)
    taxii:
      api_root: https://taxii.partner.example/api1/
      outbound_collection: 91a7b528-80eb-42ed-a74d-c6fbd5a26116
      inbound_collection: 52892447-4d7e-4f70-b94d-d7f22742ff63
      user: metagate
      password_env: METAGATE_TAXII_PASSWORD   # the password itself is never in the file

Plain ``http://`` is accepted for loopback addresses only (a local partner for tests and
demos); anything else must be ``https://`` (TLS 1.2 or later, as the requests stack does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from exchange._server_config import ServerSettings
from policies import ConfigError, Tlp, is_loopback


def _api_root(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"plain http is for loopback partners only; use https for {parts.hostname}")
    return url if url.endswith("/") else url + "/"


ApiRoot = Annotated[str, AfterValidator(_api_root)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Producer(_Strict):
    """Our own identity, as the partner sees it (the Identity object every object is created by)."""

    name: str = Field(min_length=1, max_length=256)
    identity_class: str = "organization"
    sectors: tuple[str, ...] = ("communications",)
    contact_information: str | None = None


class TaxiiSettings(_Strict):
    """Where the partner's TAXII 2.1 API root is and how to talk to it."""

    api_root: ApiRoot
    outbound_collection: str = Field(min_length=1)
    inbound_collection: str | None = None
    user: str | None = None
    password_env: str | None = None
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 30.0
    max_attempts: int = Field(6, ge=1, le=100)
    backoff: Seconds = 0.5
    max_backoff: Seconds = 60.0
    max_retry_after: Seconds = 300.0
    status_timeout: Seconds = 120.0
    status_interval: Seconds = 0.5
    max_objects_per_request: int = Field(500, ge=1, le=100_000)
    max_content_length: int | None = Field(None, ge=1024)
    page_size: int = Field(100, ge=1, le=10_000)

    def password(self) -> str | None:
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"environment variable {self.password_env} is not set", field="taxii.password_env")
        return value


class Inbound(_Strict):
    """What happens to the partner's feed."""

    indicators_file: str = "partner-indicators.jsonl"
    unmarked_tlp: Tlp = Tlp.AMBER_STRICT


class ExchangeConfig(_Strict):
    partner: str = Field(min_length=1, max_length=128)
    producer: Producer
    tlp: Tlp = Tlp.AMBER
    taxii: TaxiiSettings
    inbound: Inbound = Inbound()
    queue: str | None = None
    server: ServerSettings | None = None  # our own TAXII server (exchange._server_config)
    source: str | None = Field(None, exclude=True)


def load_exchange_config(path: str | Path) -> ExchangeConfig:
    """An exchange configuration file; ConfigError naming the file and field when it is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the exchange configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an exchange configuration is a mapping of fields")
    try:
        config = ExchangeConfig.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        dotted = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field {first['loc'][-1]!r} (a misspelling? unknown fields are errors)"
        raise ConfigError(f"{message} (in {path})", field=dotted or None) from exc
    if config.server is not None:
        config.server.check(config.partner, str(path))
    return config
