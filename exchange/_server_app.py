"""Our TAXII 2.1 server as a Flask application: the partner pulls what was published for it.

:func:`create_taxii_app` makes the WSGI application of the ``server:`` section of an
exchange configuration (exchange._server_config) over the exchange file (the queue):

=========================================================  ====================================
``GET /taxii2/``                                           discovery
``GET /{root}/``                                           the API root
``GET /{root}/status/{id}/``                               a POST's status resource
``GET /{root}/collections/`` and ``.../{collection}/``     the collections the account may use
``GET .../{collection}/objects/``                          objects (envelope), filtered, paged
``POST .../{collection}/objects/``                         into an inbound collection: 202, status
``GET .../objects/{id}/`` and ``.../objects/{id}/versions/``  one object; its versions
``GET .../{collection}/manifest/``                         manifest records
=========================================================  ====================================

Every request needs HTTP Basic (401 with ``WWW-Authenticate: Basic`` otherwise) and an
``Accept`` of ``application/taxii+json;version=2.1`` (or ``application/taxii+json``, which
names the latest version, 2.1; anything else, wildcards included, is a 406); a POST needs
that ``Content-Type`` (415) and at most ``max_content_length`` bytes (413). A collection of
another partner is a 404, one of the account's partner that it may not read (or write) a
403. Every error is a TAXII error message. Objects are sent as the bytes the queue holds.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from exchange._audit import Audit
from exchange._config import ExchangeConfig
from exchange._db import connect
from exchange._envelope import Page, Query, TaxiiError, page, parse_query, select
from exchange._ids import identity_id
from exchange._queue import Queue
from exchange._server_accounts import Account, Accounts
from exchange._server_config import ServerCollection, Serves
from exchange._server_store import Receiver, ServedCache, object_json, receive, status
from exchange._validate import StixValidator
from policies import ConfigError

MEDIA_TYPE = "application/taxii+json;version=2.1"
_TAXII = "application/taxii+json"
_REALM = 'Basic realm="metagate TAXII", charset="UTF-8"'
_OBJECT_FILTERS = ("id", "type", "version", "spec_version")
_log = logging.getLogger("metagate.taxii")

AuditOpener = Callable[[], AbstractContextManager[Audit | None]]


def create_taxii_app(
    config: ExchangeConfig,
    queue_path: str | Path,
    *,
    audit: AuditOpener | None = None,
    validator: StixValidator | None = None,
) -> Flask:
    """The TAXII 2.1 server of ``config.server`` over the exchange file at ``queue_path``.

    ``audit`` opens the ledger a POST is recorded in, once per POST (a ledger is used by one
    thread); None records nothing. ConfigError when there is no ``server:`` section or an
    account's password hash is no hash.
    """
    settings = config.server
    if settings is None:
        raise ConfigError("the exchange configuration has no server: section", field="server")
    settings.check(config.partner, config.source or "the exchange configuration")
    path = Path(queue_path)
    connect(path).close()  # create or upgrade the file now, and fail now if it is something else
    accounts = Accounts(settings, config.partner)
    receiver = Receiver(
        ours=identity_id(config.partner, config.producer.name),
        unmarked=config.inbound.unmarked_tlp,
        validator=validator or StixValidator(),
        lock=threading.Lock(),
    )
    collections = {c.id: c for c in settings.collections}
    opener: AuditOpener = audit or (lambda: nullcontext(None))
    cache = ServedCache()

    app = Flask("metagate.taxii")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    api = f"/{settings.api_root}"

    @contextmanager
    def reading() -> Iterator[Any]:
        conn = connect(path)
        try:
            yield conn
        finally:
            conn.close()

    def owned(collection_id: str) -> ServerCollection:
        """The collection when it is the account's partner's; 404 otherwise (others' do not exist for it)."""
        account: Account = g.account
        collection = collections.get(collection_id)
        if collection is None or (collection.partner or config.partner) != account.partner:
            raise TaxiiError(404, "no such collection", f"no collection {collection_id} under /{settings.api_root}/")
        return collection

    def readable(collection_id: str) -> ServerCollection:
        collection = owned(collection_id)
        if collection_id not in g.account.read:
            raise TaxiiError(403, "not allowed to read", f"account {g.account.user} may not read {collection_id}")
        return collection

    def query(default_filters: tuple[str, ...]) -> Query:
        return parse_query(
            request.args.to_dict(),
            scope=request.path,
            default_limit=settings.page_size,
            max_limit=settings.max_page_size,
            filters=default_filters,
        )

    @app.before_request
    def authenticate() -> None:
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username is None or auth.password is None:
            raise TaxiiError(401, "authentication required", "this server takes HTTP Basic authentication")
        account = accounts.authenticate(auth.username, auth.password)
        if account is None:
            _log.warning("refused credentials for %r from %s", auth.username, request.remote_addr)
            raise TaxiiError(401, "authentication failed", "unknown user or wrong password")
        g.account = account
        if not acceptable(request.headers.get("Accept")):
            raise TaxiiError(
                406, "not acceptable", f"this server answers {MEDIA_TYPE}; Accept was {request.headers.get('Accept')!r}"
            )

    @app.get("/taxii2/", strict_slashes=False)
    def discovery() -> Response:
        root = f"{request.host_url}{settings.api_root}/"
        body: dict[str, Any] = {"title": settings.title, "default": root, "api_roots": [root]}
        if settings.description:
            body["description"] = settings.description
        if settings.contact:
            body["contact"] = settings.contact
        return answer(body)

    @app.get(f"{api}/", strict_slashes=False)
    def api_root() -> Response:
        body: dict[str, Any] = {"title": settings.title, "versions": [MEDIA_TYPE]}
        body["max_content_length"] = settings.max_content_length
        if settings.description:
            body["description"] = settings.description
        return answer(body)

    @app.get(f"{api}/status/<status_id>/", strict_slashes=False)
    def get_status(status_id: str) -> Response:
        with reading() as conn:
            found = status(conn, g.account.partner, status_id)
        if found is None:
            raise TaxiiError(404, "no such status", f"no status {status_id} for this account's partner")
        return answer(found)

    @app.get(f"{api}/collections/", strict_slashes=False)
    def get_collections() -> Response:
        mine = [c for c in settings.collections if g.account.may(c.id)]
        return answer({"collections": [resource(c) for c in mine]} if mine else {})

    @app.get(f"{api}/collections/<collection_id>/", strict_slashes=False)
    def get_collection(collection_id: str) -> Response:
        collection = owned(collection_id)
        if not g.account.may(collection_id):
            raise TaxiiError(403, "not allowed", f"account {g.account.user} may not use {collection_id}")
        return answer(resource(collection))

    @app.get(f"{api}/collections/<collection_id>/objects/", strict_slashes=False)
    def get_objects(collection_id: str) -> Response:
        readable(collection_id)
        wanted = query(_OBJECT_FILTERS)
        with reading() as conn:
            listed = page(cache.select(conn, g.account.partner, wanted), wanted)
            return envelope(conn, listed)

    @app.get(f"{api}/collections/<collection_id>/objects/<object_id>/", strict_slashes=False)
    def get_object(collection_id: str, object_id: str) -> Response:
        readable(collection_id)
        wanted = query(("version", "spec_version"))
        with reading() as conn:
            versions = known(conn, object_id)
            return envelope(conn, page(select(versions, wanted), wanted))

    @app.get(f"{api}/collections/<collection_id>/objects/<object_id>/versions/", strict_slashes=False)
    def get_versions(collection_id: str, object_id: str) -> Response:
        readable(collection_id)
        wanted = query(("spec_version",))
        with reading() as conn:
            listed = page(select(known(conn, object_id), wanted), wanted)
        body: dict[str, Any] = {"more": listed.more}
        if listed.next:
            body["next"] = listed.next
        if listed.entries:
            body["versions"] = [e.version for e in listed.entries]
        return answer(body, listed.headers())

    @app.get(f"{api}/collections/<collection_id>/manifest/", strict_slashes=False)
    def get_manifest(collection_id: str) -> Response:
        readable(collection_id)
        wanted = query(_OBJECT_FILTERS)
        with reading() as conn:
            listed = page(cache.select(conn, g.account.partner, wanted), wanted)
        body: dict[str, Any] = {"more": listed.more}
        if listed.next:
            body["next"] = listed.next
        if listed.entries:
            body["objects"] = [e.manifest() for e in listed.entries]
        return answer(body, listed.headers())

    @app.post(f"{api}/collections/<collection_id>/objects/", strict_slashes=False)
    def add_objects(collection_id: str) -> Response:
        requested_at = datetime.now(UTC)
        collection = owned(collection_id)
        if collection_id not in g.account.write or collection.serves is not Serves.INBOUND:
            raise TaxiiError(403, "not allowed to write", f"account {g.account.user} may not write {collection_id}")
        if not media_type_is_taxii(request.headers.get("Content-Type")):
            raise TaxiiError(
                415,
                "unsupported media type",
                f"a POST body is {MEDIA_TYPE}, not {request.headers.get('Content-Type')!r}",
            )
        length = request.content_length
        if length is not None and length > settings.max_content_length:
            raise TaxiiError(413, "too large", f"{length:,} bytes; this server takes {settings.max_content_length:,}")
        body = request.get_data(cache=False)
        objects = envelope_objects(body)
        with opener() as ledger, Queue(path, ledger) as queue:
            result = receive(
                queue,
                receiver,
                partner=g.account.partner,
                account=g.account.user,
                collection=collection_id,
                objects=objects,
                body=body,
                requested_at=requested_at,
            )
        _log.info(
            "%s posted %d object(s) to %s: %d taken, %d refused",
            g.account.user,
            result["total_count"],
            collection_id,
            result["success_count"],
            result["failure_count"],
        )
        return answer(result, status=202)

    def known(conn: Any, object_id: str) -> list[Any]:
        versions = [e for e in cache.get(conn, g.account.partner) if e.object_id == object_id]
        if not versions:
            raise TaxiiError(404, "no such object", f"no object {object_id} in this collection")
        return versions

    def envelope(conn: Any, listed: Page) -> Response:
        parts = [b'{"more":' + (b"true" if listed.more else b"false")]
        if listed.next:
            parts.append(b'"next":' + json.dumps(listed.next).encode())
        if listed.entries:
            parts.append(b'"objects":[' + b",".join(object_json(conn, g.account.partner, list(listed.entries))) + b"]")
        return Response(b",".join(parts) + b"}", 200, listed.headers(), content_type=MEDIA_TYPE)

    @app.errorhandler(TaxiiError)
    def taxii_error(error: TaxiiError) -> Response:
        return error_answer(error.status, error.title, error.description)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        reply = error_answer(code, error.name.lower(), error.description)
        valid = getattr(error, "valid_methods", None)
        if valid:
            reply.headers["Allow"] = ", ".join(valid)
        return reply

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> Response:
        _log.exception("TAXII request %s %s failed", request.method, request.path)
        return error_answer(500, "internal error", "the server could not answer; the request was not carried out")

    return app


def resource(collection: ServerCollection) -> dict[str, Any]:
    account: Account = g.account
    body: dict[str, Any] = {"id": collection.id, "title": collection.title}
    if collection.description:
        body["description"] = collection.description
    if collection.alias:
        body["alias"] = collection.alias
    body["can_read"] = collection.id in account.read
    body["can_write"] = collection.id in account.write
    body["media_types"] = ["application/stix+json;version=2.1"]
    return body


def answer(body: dict[str, Any], headers: dict[str, str] | None = None, *, status: int = 200) -> Response:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(data, status, headers or {}, content_type=MEDIA_TYPE)


def error_answer(code: int, title: str, description: str | None) -> Response:
    body: dict[str, Any] = {"title": title, "http_status": str(code)}
    if description:
        body["description"] = description
    headers = {"WWW-Authenticate": _REALM} if code == 401 else {}
    return answer(body, headers, status=code)


def acceptable(header: str | None) -> bool:
    """Whether an Accept header admits TAXII 2.1 (a bare application/taxii+json names the latest, 2.1)."""
    if not header:
        return False
    for media in header.split(","):
        kind, params = _media(media)
        if kind != _TAXII or params.get("version", "2.1") != "2.1":
            continue
        try:
            if float(params.get("q", "1")) > 0:
                return True
        except ValueError:
            continue
    return False


def media_type_is_taxii(header: str | None) -> bool:
    if not header:
        return False
    kind, params = _media(header)
    return kind == _TAXII and params.get("version", "2.1") == "2.1"


def _media(text: str) -> tuple[str, dict[str, str]]:
    kind, *rest = [part.strip() for part in text.split(";")]
    params = {}
    for item in rest:
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return kind.lower(), params


def envelope_objects(body: bytes) -> list[Any]:
    """The objects of a POST body: a TAXII envelope (a STIX bundle is taken too, as medallion does)."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TaxiiError(400, "not JSON", f"the body is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("objects"), list):
        raise TaxiiError(400, "not an envelope", 'the body is a TAXII envelope: {"objects": [...]}')
    objects: list[Any] = parsed["objects"]
    return objects
