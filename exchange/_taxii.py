"""A partner's TAXII 2.1 collection over HTTP, with taxii2-client, made safe to leave running.

taxii2-client 2.3 sets no timeout (a silent server hangs the caller for ever), does not retry,
ignores ``Retry-After`` and does not expose the ``X-TAXII-Date-Added-*`` headers. This module
gives its session a transport adapter with a connect and a read timeout and no retries of its
own, keeps the headers of the last answer, formats ``added_after`` itself (a naive datetime
would lose its microseconds), and turns every failure of requests or taxii2-client into one
:class:`~exchange._transport.TransportError` that says what happened and carries the status
and ``Retry-After``. Retrying is share's and pull's business (exchange._share, exchange._pull).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import requests.adapters

from exchange._config import TaxiiSettings
from exchange._transport import FailureKind, Page, StatusReport, TransportError

_T = TypeVar("_T")
_MANIFEST_IDS = 40  # ids a manifest query names at once (URL length stays far below 8 KiB)


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """Every request with a (connect, read) timeout, and no retries below ours."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class TaxiiTransport:
    """One collection under the partner's API root (``settings.api_root``)."""

    def __init__(self, settings: TaxiiSettings, collection_id: str, *, password: str | None = None) -> None:
        from taxii2client.common import _HTTPConnection
        from taxii2client.v21 import ApiRoot, Collection

        self.settings = settings
        self.collection_id = collection_id
        self._conn = _HTTPConnection(settings.user, password, verify=True, version="2.1")
        adapter = _TimeoutAdapter((settings.connect_timeout, settings.read_timeout))
        self._conn.session.mount("http://", adapter)
        self._conn.session.mount("https://", adapter)
        self._conn.session.hooks["response"].append(self._keep_headers)
        self._headers: dict[str, str] = {}
        self._root = ApiRoot(settings.api_root, conn=self._conn)
        self.url = f"{settings.api_root}collections/{collection_id}/"
        self._collection = Collection(self.url, conn=self._conn)

    def _keep_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._headers = dict(response.headers)

    def close(self) -> None:
        self._conn.close()

    def max_content_length(self) -> int:
        value = _call(lambda: self._root.max_content_length, f"API root {self.settings.api_root}")
        if not isinstance(value, int) or value <= 0:
            raise TransportError(FailureKind.PROTOCOL, f"API root {self.settings.api_root}: no max_content_length")
        return value

    def add_objects(self, body: bytes) -> StatusReport:
        status = _call(
            lambda: self._collection.add_objects(body, wait_for_completion=False), f"POST {self.url}objects/"
        )
        return _report(status)

    def get_status(self, status_id: str) -> StatusReport:
        return _report(_call(lambda: self._root.get_status(status_id), f"status {status_id}"))

    def get_objects(self, *, added_after: str | None, next: str | None, limit: int) -> Page:
        filters: dict[str, Any] = {"limit": limit}
        if added_after is not None:
            filters["added_after"] = added_after  # text with microseconds, never a naive datetime
        if next is not None:
            filters["next"] = next
        self._headers = {}
        envelope = _call(lambda: self._collection.get_objects(**filters), f"GET {self.url}objects/")
        if not isinstance(envelope, dict):
            raise TransportError(FailureKind.PROTOCOL, f"GET {self.url}objects/: the answer is not an envelope")
        objects = envelope.get("objects", [])
        if not isinstance(objects, list):
            raise TransportError(FailureKind.PROTOCOL, f"GET {self.url}objects/: 'objects' is not a list")
        headers = {k.lower(): v for k, v in self._headers.items()}
        return Page(
            objects=tuple(objects),
            more=bool(envelope.get("more", False)),
            next=str(envelope["next"]) if envelope.get("next") else None,
            first_added=headers.get("x-taxii-date-added-first"),
            last_added=headers.get("x-taxii-date-added-last"),
        )

    def present(self, object_ids: Sequence[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for start in range(0, len(object_ids), _MANIFEST_IDS):
            chunk = list(object_ids[start : start + _MANIFEST_IDS])
            token: str | None = None
            while True:
                filters: dict[str, Any] = {"id": chunk, "version": "all", "limit": self.settings.page_size}
                if token is not None:
                    filters["next"] = token
                page = _call(lambda f=filters: self._collection.get_manifest(**f), f"GET {self.url}manifest/")  # type: ignore[misc]
                for record in page.get("objects", []) if isinstance(page, dict) else []:
                    found.add((str(record.get("id")), str(record.get("version"))))
                token = page.get("next") if isinstance(page, dict) and page.get("more") else None
                if not token:
                    break
        return found


def _call(request: Callable[[], _T], what: str) -> _T:
    """``request()``, with every failure it can have as a TransportError."""
    from taxii2client.exceptions import TAXIIServiceException

    try:
        return request()
    except requests.exceptions.HTTPError as exc:
        response = exc.response
        status = response.status_code if response is not None else None
        detail = _detail(response)
        retry_after = _retry_after(response.headers.get("Retry-After")) if response is not None else None
        raise TransportError(
            FailureKind.HTTP, f"{what}: HTTP {status}{detail}", status=status, retry_after=retry_after
        ) from exc
    except requests.exceptions.ConnectTimeout as exc:
        raise TransportError(FailureKind.CONNECT, f"{what}: no connection in time") from exc
    except requests.exceptions.Timeout as exc:
        raise TransportError(FailureKind.TIMEOUT, f"{what}: no answer in time") from exc
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        if "NewConnectionError" in text or "Connection refused" in text:
            raise TransportError(FailureKind.CONNECT, f"{what}: connection refused") from exc
        raise TransportError(FailureKind.TIMEOUT, f"{what}: connection lost ({_short(text)})") from exc
    except requests.exceptions.RequestException as exc:
        raise TransportError(FailureKind.PROTOCOL, f"{what}: {_short(str(exc))}") from exc
    except (TAXIIServiceException, ValueError, KeyError, TypeError) as exc:
        raise TransportError(FailureKind.PROTOCOL, f"{what}: not a TAXII 2.1 answer ({_short(str(exc))})") from exc


def _report(status: Any) -> StatusReport:
    def pairs(entries: Any) -> tuple[tuple[str, str], ...]:
        return tuple((str(e.get("id")), str(e.get("version"))) for e in entries or [] if isinstance(e, dict))

    failures = tuple(
        (str(e.get("id")), str(e.get("version")), str(e.get("message", "")))
        for e in status.failures or []
        if isinstance(e, dict)
    )
    return StatusReport(
        id=str(status.id),
        complete=status.status == "complete",
        successes=pairs(status.successes),
        failures=failures,
        pendings=pairs(status.pendings),
        total=int(status.total_count or 0),
        success_count=int(status.success_count or 0),
    )


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _detail(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return f" {response.reason}" if response.reason else ""
    if isinstance(body, dict):
        text = body.get("description") or body.get("title")
        if text:
            return f" ({_short(str(text))})"
    return ""


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
